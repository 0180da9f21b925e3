// Child processes for end-to-end tests (tests/support/child_process.h),
// and where a test's files and the binaries under test are.
#ifndef TL_GATEWAY_TESTS_E2E_PROCESS_H_
#define TL_GATEWAY_TESTS_E2E_PROCESS_H_

#include <string>

#include "tests/support/child_process.h"

namespace tltest {

using Process = ChildProcess;

// A fresh path under the test's temporary directory.
std::string TempPath(const std::string& name);
// The path of a runfile, e.g. "server/gateway".
std::string Runfile(const std::string& path);

}  // namespace tltest

#endif  // TL_GATEWAY_TESTS_E2E_PROCESS_H_
