// tlctl: the command-line client for tl-gateway. Only wiring: reads the
// process environment and hands everything to RunTlctl (client/commands.h).
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "client/commands.h"

int main(int argc, char** argv) {
  tlclient::CliEnvironment env;
  if (const char* addr = std::getenv("TLGW_ADDR")) env.address = addr;
  if (const char* token = std::getenv("TLGW_TOKEN")) env.token = token;
  env.stdout_is_terminal = isatty(STDOUT_FILENO) == 1;
  env.stderr_is_terminal = isatty(STDERR_FILENO) == 1;
  env.out = &std::cout;
  env.err = &std::cerr;
  std::vector<std::string> args(argv + 1, argv + argc);
  int code = tlclient::RunTlctl(args, env);
  std::cout.flush();
  return code;
}
