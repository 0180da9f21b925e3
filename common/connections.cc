#include "common/connections.h"

#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "absl/strings/numbers.h"

namespace tlgw {

namespace {

int PortOf(const sockaddr_storage& addr) {
  if (addr.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(addr).sin_port);
  if (addr.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(addr).sin6_port);
  return -1;
}

}  // namespace

void ForEachConnection(int local_port, absl::FunctionRef<void(int fd, int peer_port)> fn) {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return;
  const int dir_fd = dirfd(dir);
  while (dirent* entry = readdir(dir)) {
    int fd;
    if (!absl::SimpleAtoi(entry->d_name, &fd) || fd == dir_fd) continue;
    sockaddr_storage local{};
    socklen_t len = sizeof(local);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0 || PortOf(local) != local_port) {
      continue;
    }
    sockaddr_storage peer{};
    len = sizeof(peer);
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0) continue;  // the listener
    fn(fd, PortOf(peer));
  }
  closedir(dir);
}

void ShutdownConnections(int local_port) {
  ForEachConnection(local_port, [](int fd, int) { shutdown(fd, SHUT_RDWR); });
}

}  // namespace tlgw
