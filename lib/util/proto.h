// Protobuf helpers.

#ifndef LEYSER_LIB_UTIL_PROTO_H_
#define LEYSER_LIB_UTIL_PROTO_H_

#include <string>

#include "google/protobuf/message_lite.h"

namespace leyser::internal {

// `message` serialized deterministically (map entries sorted), so the same
// message always gives the same bytes: what signatures and hashes cover.
std::string SerializeDeterministic(
    const google::protobuf::MessageLite& message);

}  // namespace leyser::internal

#endif  // LEYSER_LIB_UTIL_PROTO_H_
