#include "client/args.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace tlclient {

namespace {

const OptionSpec* FindOption(const std::vector<OptionSpec>& options, const std::string& name) {
  for (const auto& o : options) {
    if (o.name == name) return &o;
  }
  return nullptr;
}

const CommandSpec* FindCommand(const std::vector<CommandSpec>& commands, const std::string& name) {
  for (const auto& c : commands) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

std::string OptionLabel(const OptionSpec& o) {
  std::string label = absl::StrCat("--", o.name);
  if (!o.value_name.empty()) absl::StrAppend(&label, " ", o.value_name);
  return label;
}

void AppendOptions(std::string* out, const std::vector<OptionSpec>& options) {
  size_t width = 0;
  for (const auto& o : options) width = std::max(width, OptionLabel(o).size());
  for (const auto& o : options) {
    std::string help = o.help;
    if (o.required) help = absl::StrCat("(required) ", help);
    if (o.repeated) absl::StrAppend(&help, " (repeatable)");
    absl::StrAppend(out,
                    absl::StrFormat("  %-*s  %s\n", static_cast<int>(width), OptionLabel(o), help));
  }
}

}  // namespace

std::string ParsedArgs::Get(const std::string& name, const std::string& fallback) const {
  auto it = options.find(name);
  if (it == options.end() || it->second.empty()) return fallback;
  return it->second.back();
}

std::vector<std::string> ParsedArgs::GetAll(const std::string& name) const {
  auto it = options.find(name);
  return it == options.end() ? std::vector<std::string>() : it->second;
}

absl::StatusOr<ParsedArgs> ParseArgs(const std::vector<OptionSpec>& global_options,
                                     const std::vector<CommandSpec>& commands,
                                     const std::vector<std::string>& args) {
  ParsedArgs parsed;
  const CommandSpec* command = nullptr;
  bool options_ended = false;
  bool help_command = false;  // `help COMMAND`: the next word names a command
  std::string group;          // the first word of a two-word command
  auto take_word = [&](const std::string& word) -> absl::Status {
    if (command == nullptr) {
      if (word == "help" && !help_command && !parsed.help) {
        parsed.help = true;
        help_command = true;
        return absl::OkStatus();
      }
      // A command may be two words ("asset upload"): the first is a group.
      const std::string name = group.empty() ? word : absl::StrCat(group, " ", word);
      command = FindCommand(commands, name);
      if (command == nullptr && group.empty()) {
        for (const auto& c : commands) {
          if (absl::StartsWith(c.name, word + " ")) {
            group = word;
            return absl::OkStatus();
          }
        }
      }
      if (command == nullptr) {
        return absl::InvalidArgumentError(absl::StrCat("unknown command '", name, "'"));
      }
      parsed.command = name;
      return absl::OkStatus();
    }
    parsed.positional.push_back(word);
    return absl::OkStatus();
  };

  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (options_ended || arg == "-" || !absl::StartsWith(arg, "-")) {
      if (absl::Status s = take_word(arg); !s.ok()) return s;
      continue;
    }
    if (arg == "--") {
      options_ended = true;
      continue;
    }
    if (arg == "-h" || arg == "--help") {
      parsed.help = true;
      continue;
    }
    if (!absl::StartsWith(arg, "--")) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown option '", arg, "' (options are long: --name)"));
    }
    std::string name = arg.substr(2);
    std::string value;
    bool has_inline_value = false;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_inline_value = true;
    }
    const OptionSpec* spec = command != nullptr ? FindOption(command->options, name) : nullptr;
    if (spec == nullptr) spec = FindOption(global_options, name);
    if (spec == nullptr) {
      if (command == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("unknown option --", name, " (command options go after the command)"));
      }
      return absl::InvalidArgumentError(
          absl::StrCat("unknown option --", name, " for '", command->name, "'"));
    }
    if (spec->value_name.empty()) {
      if (has_inline_value) {
        return absl::InvalidArgumentError(absl::StrCat("--", name, " takes no value"));
      }
    } else if (!has_inline_value) {
      if (i + 1 >= args.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("--", name, " needs a value (", spec->value_name, ")"));
      }
      value = args[++i];
    }
    std::vector<std::string>& values = parsed.options[name];
    if (!spec->repeated) values.clear();
    values.push_back(value);
  }

  if (command == nullptr && !group.empty() && !parsed.help) {
    std::string subcommands;
    for (const auto& c : commands) {
      if (absl::StartsWith(c.name, group + " ")) {
        absl::StrAppend(&subcommands, subcommands.empty() ? "" : ", ", c.name.substr(group.size() + 1));
      }
    }
    return absl::InvalidArgumentError(absl::StrCat("'", group, "' needs a subcommand: ", subcommands));
  }
  if (parsed.help || command == nullptr) return parsed;
  if (parsed.positional.size() < command->min_positional) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", command->name, "' needs ", command->arguments));
  }
  if (parsed.positional.size() > command->max_positional) {
    return absl::InvalidArgumentError(absl::StrCat("unexpected argument '",
                                                   parsed.positional[command->max_positional],
                                                   "' for '", command->name, "'"));
  }
  for (const auto& o : command->options) {
    if (o.required && !parsed.Has(o.name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", command->name, "' needs --", o.name, " ", o.value_name));
    }
  }
  return parsed;
}

std::string ToolUsage(const std::string& tool, const std::string& summary,
                      const std::vector<CommandSpec>& commands,
                      const std::vector<OptionSpec>& global_options) {
  std::string out = absl::StrCat("usage: ", tool, " [global options] COMMAND [options] [ARGS]\n\n",
                                 summary, "\n\ncommands:\n");
  size_t width = 0;
  for (const auto& c : commands) width = std::max(width, c.name.size());
  for (const auto& c : commands) {
    absl::StrAppend(&out,
                    absl::StrFormat("  %-*s  %s\n", static_cast<int>(width), c.name, c.summary));
  }
  absl::StrAppend(&out, "\nglobal options:\n");
  AppendOptions(&out, global_options);
  absl::StrAppend(&out, "\nRun '", tool, " COMMAND --help' for a command's options.\n");
  return out;
}

std::string CommandUsage(const std::string& tool, const CommandSpec& command,
                         const std::vector<OptionSpec>& global_options) {
  std::string out = absl::StrCat("usage: ", tool, " ", command.name);
  if (!command.arguments.empty()) absl::StrAppend(&out, " ", command.arguments);
  if (!command.options.empty()) absl::StrAppend(&out, " [options]");
  absl::StrAppend(&out, "\n\n", command.summary, "\n");
  if (!command.description.empty()) absl::StrAppend(&out, "\n", command.description, "\n");
  if (!command.options.empty()) {
    absl::StrAppend(&out, "\noptions:\n");
    AppendOptions(&out, command.options);
  }
  absl::StrAppend(&out, "\nglobal options:\n");
  AppendOptions(&out, global_options);
  return out;
}

}  // namespace tlclient
