// Test helpers: an in-process simulator on port 0 and a small HTTP client
// that returns status, headers and parsed JSON in one value.
#ifndef TL_GATEWAY_TESTS_SIM_SIM_TEST_UTIL_H_
#define TL_GATEWAY_TESTS_SIM_SIM_TEST_UTIL_H_

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "sim/simulator.h"

namespace tlsim::testing {

inline constexpr char kSeedIndex[] = "0123456789abcdef01234567";
inline constexpr char kSeedIntegration[] = "0123456789abcdef89abcdef";
inline constexpr char kKey[] = "sim-key";

struct HttpResult {
  bool transport_ok = false;  // false: no HTTP response (reset, truncation)
  httplib::Error error = httplib::Error::Unknown;
  int status = 0;
  httplib::Headers headers;
  std::string body;
  nlohmann::json json;  // discarded if the body is not JSON

  std::string Header(const std::string& name) const;
  bool HasHeader(const std::string& name) const;
  // For failure messages.
  std::string Describe() const;
};

class SimClient {
 public:
  explicit SimClient(int port, std::string api_key = kKey);

  HttpResult Get(const std::string& path);
  HttpResult Delete(const std::string& path);
  HttpResult PostJson(const std::string& path, const nlohmann::json& body);
  HttpResult PostRaw(const std::string& path, const std::string& body,
                     const std::string& content_type);
  HttpResult PostForm(const std::string& path, const httplib::MultipartFormDataItems& items);
  HttpResult PostForm(const std::string& path, const httplib::MultipartFormDataItems& items,
                      const httplib::MultipartFormDataProviderItems& providers);

  // Control API (no key).
  HttpResult Control(const std::string& method, const std::string& path,
                     const nlohmann::json& body = nullptr);
  void Advance(double seconds);
  void AddFault(const nlohmann::json& spec);

  void set_api_key(std::string key) { api_key_ = std::move(key); }

 private:
  httplib::Headers KeyHeaders() const;
  static HttpResult From(const httplib::Result& result);

  int port_;
  std::string api_key_;
};

// Status and error code of a REST error response.
ABSL_MUST_USE_RESULT ::testing::AssertionResult IsApiError(const HttpResult& r, int status,
                                                           const std::string& code);

// Status 2xx-or-given with a JSON body.
ABSL_MUST_USE_RESULT ::testing::AssertionResult IsJsonStatus(const HttpResult& r, int status);

// Default options for tests: manual clock, 2 s stages, 1 MiB upload cap.
SimulatorOptions TestOptions();

// Starts a simulator or fails the test.
std::unique_ptr<Simulator> StartOrDie(const SimulatorOptions& options);

// Creates a task with video_url through `version` ("v1.2"/"v1.3");
// returns its id or "" (with a test failure).
std::string CreateUrlTask(SimClient& client, const std::string& version, const std::string& url,
                          const std::string& index_id = kSeedIndex);

// A webhook endpoint for tests: an HTTP server on a loopback port 0 that
// records every POST and answers 200 (or a queued failure status). It does
// not verify anything; tests do, with SignedWith().
class WebhookSink {
 public:
  struct Delivery {
    std::string path;
    std::string signature;  // TL-Signature ("" if absent)
    std::string content_type;
    std::string body;
  };

  WebhookSink();
  ~WebhookSink();
  WebhookSink(const WebhookSink&) = delete;
  WebhookSink& operator=(const WebhookSink&) = delete;

  int port() const { return port_; }
  std::string url(const std::string& path = "/hooks/tl") const;
  // The next `count` deliveries are answered with `status`.
  void FailNext(int count, int status = 500) ABSL_LOCKS_EXCLUDED(mu_);
  std::vector<Delivery> deliveries() const ABSL_LOCKS_EXCLUDED(mu_);
  // Waits until at least `count` deliveries arrived (or `timeout` passed)
  // and returns them all.
  std::vector<Delivery> WaitFor(size_t count, absl::Duration timeout = absl::Seconds(10)) const
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = -1;
  mutable absl::Mutex mu_;
  std::vector<Delivery> deliveries_ ABSL_GUARDED_BY(mu_);
  int fail_count_ ABSL_GUARDED_BY(mu_) = 0;
  int fail_status_ ABSL_GUARDED_BY(mu_) = 500;
};

// Lowercase hex HMAC-SHA256 of `payload` with `key`, computed with OpenSSL
// directly (not with the code under test).
std::string HmacSha256Hex(const std::string& key, const std::string& payload);

// TL-Signature of `d` is "t=<t>,v1=<hex>" with v1 = HMAC(secret, t.body)
// and t within `max_skew` of `expected_t` (default: now).
ABSL_MUST_USE_RESULT ::testing::AssertionResult SignedWith(
    const WebhookSink::Delivery& d, const std::string& secret,
    absl::Time expected_t = absl::InfinitePast(), absl::Duration max_skew = absl::Seconds(60));

// Polls GET /_sim/webhooks until at least `count` deliveries are logged and
// all of them are done (or 10 s pass); returns the "deliveries" array.
nlohmann::json WaitForDeliveries(SimClient& client, size_t count);

}  // namespace tlsim::testing

#endif  // TL_GATEWAY_TESTS_SIM_SIM_TEST_UTIL_H_
