// Structured logging: one JSON object per line on stderr.
//
// Never pass an API key, a client token or a webhook secret to these
// functions: log lines are read by people and shipped to log stores.
#ifndef TL_GATEWAY_SERVER_COMMON_LOG_H_
#define TL_GATEWAY_SERVER_COMMON_LOG_H_

#include <initializer_list>
#include <string>
#include <utility>

#include "absl/strings/string_view.h"

namespace tlgw {

enum class LogLevel { kDebug, kInfo, kWarning, kError };

using LogField = std::pair<absl::string_view, std::string>;

// Writes {"time":...,"level":...,"component":...,"message":...,<fields>}.
// Thread-safe; each line is written with one write(2).
void Log(LogLevel level, absl::string_view component, absl::string_view message,
         std::initializer_list<LogField> fields = {});

// Lines below this level are dropped (default kInfo).
void SetMinLogLevel(LogLevel level);

// The most bytes of one logged value (a message, a field, an audit entry):
// what a caller sends (a method name, an id) never makes a line grow
// without bound.
inline constexpr size_t kMaxLogValueBytes = 512;

// `value` cut to `max` bytes, with a visible marker saying how much was
// cut ("...[truncated 1234 bytes]"); unchanged when it fits.
std::string BoundedLogValue(absl::string_view value, size_t max = kMaxLogValueBytes);

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_COMMON_LOG_H_
