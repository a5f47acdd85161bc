// `leyserctl demo`: the whole data lifecycle, step by step, on a local
// directory (a fresh store on every run; DIR/master.key is kept).

#ifndef LEYSER_TOOLS_LEYSERCTL_DEMO_H_
#define LEYSER_TOOLS_LEYSERCTL_DEMO_H_

#include <string>

// Runs the walk-through in `dir`; returns the process exit status (errors
// end the process with status 1).
int RunDemo(const std::string& dir);

#endif  // LEYSER_TOOLS_LEYSERCTL_DEMO_H_
