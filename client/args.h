// A small command-line parser for tools with subcommands
// (`tool [global options] COMMAND [options] [ARGS]`), and the help text it
// derives from the same specification, so usage and parsing never drift
// apart.
//
// A command's name may be two words ("asset get"): the first word then
// groups commands, and alone it is an error naming the group's commands.
// Options are long only: `--name VALUE`, `--name=VALUE`, or `--flag`.
// Global options are accepted before and after the command; `--` ends the
// options. `-h`, `--help` and `help [COMMAND]` ask for help. Errors are
// INVALID_ARGUMENT with a message fit for a user (no stack of details).
#ifndef TL_GATEWAY_CLIENT_ARGS_H_
#define TL_GATEWAY_CLIENT_ARGS_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tlclient {

struct OptionSpec {
  // Without the leading dashes, e.g. "index".
  std::string name;
  // Shown in help, e.g. "ID"; empty for a flag that takes no value.
  std::string value_name;
  std::string help;
  bool required = false;
  // May be given more than once (every value is kept); otherwise the last
  // one wins.
  bool repeated = false;
};

struct CommandSpec {
  std::string name;
  // Shown after the command in help, e.g. "TASK_ID" or "FILE".
  std::string arguments;
  // One line for the command list.
  std::string summary;
  // More lines for the command's own help; may be empty.
  std::string description;
  size_t min_positional = 0;
  size_t max_positional = 0;
  std::vector<OptionSpec> options;
};

struct ParsedArgs {
  // Empty when no command was given.
  std::string command;
  std::vector<std::string> positional;
  // Every option given, by name; a flag has one empty value per use.
  std::map<std::string, std::vector<std::string>> options;
  bool help = false;

  bool Has(const std::string& name) const { return options.count(name) > 0; }
  // The last value given, or `fallback`.
  std::string Get(const std::string& name, const std::string& fallback = "") const;
  std::vector<std::string> GetAll(const std::string& name) const;
};

// Parses `args` (without the program name). Positional counts and required
// options are checked only when help was not asked for.
absl::StatusOr<ParsedArgs> ParseArgs(const std::vector<OptionSpec>& global_options,
                                     const std::vector<CommandSpec>& commands,
                                     const std::vector<std::string>& args);

// "usage: tool COMMAND ..." with the command list and global options.
std::string ToolUsage(const std::string& tool, const std::string& summary,
                      const std::vector<CommandSpec>& commands,
                      const std::vector<OptionSpec>& global_options);
// One command's usage, description and options, then the global options.
std::string CommandUsage(const std::string& tool, const CommandSpec& command,
                         const std::vector<OptionSpec>& global_options);

}  // namespace tlclient

#endif  // TL_GATEWAY_CLIENT_ARGS_H_
