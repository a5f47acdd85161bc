#include "lib/rocks/fault_injection.h"

#include <mutex>
#include <utility>

namespace leyser::internal {
namespace {

std::mutex& Mu() {
  static std::mutex mu;
  return mu;
}

FileSystemWrapper& Wrapper() {
  static FileSystemWrapper* wrapper = new FileSystemWrapper();
  return *wrapper;
}

}  // namespace

void SetDataFileSystemWrapperForTesting(FileSystemWrapper wrapper) {
  std::lock_guard<std::mutex> lock(Mu());
  Wrapper() = std::move(wrapper);
}

FileSystemWrapper DataFileSystemWrapper() {
  std::lock_guard<std::mutex> lock(Mu());
  return Wrapper();
}

}  // namespace leyser::internal
