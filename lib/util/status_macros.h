// Internal status-propagation macros (not part of the public API).

#ifndef LEYSER_LIB_UTIL_STATUS_MACROS_H_
#define LEYSER_LIB_UTIL_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define LEYSER_CONCAT_INNER_(a, b) a##b
#define LEYSER_CONCAT_(a, b) LEYSER_CONCAT_INNER_(a, b)

// Returns the status of `expr` from the current function if it is not OK.
#define LEYSER_RETURN_IF_ERROR(expr) \
  LEYSER_RETURN_IF_ERROR_IMPL_(LEYSER_CONCAT_(leyser_status_, __LINE__), expr)

#define LEYSER_RETURN_IF_ERROR_IMPL_(status, expr) \
  do {                                             \
    ::absl::Status status = (expr);                \
    if (!status.ok()) return status;               \
  } while (false)

// Evaluates the StatusOr `rexpr`; returns its status if not OK, else moves its
// value into `lhs`.
#define LEYSER_ASSIGN_OR_RETURN(lhs, rexpr)                                 \
  LEYSER_ASSIGN_OR_RETURN_IMPL_(LEYSER_CONCAT_(leyser_statusor_, __LINE__), \
                                lhs, rexpr)

#define LEYSER_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                  \
  if (!statusor.ok()) return std::move(statusor).status();  \
  lhs = std::move(statusor).value()

#endif  // LEYSER_LIB_UTIL_STATUS_MACROS_H_
