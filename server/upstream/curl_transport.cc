#include "server/upstream/curl_transport.h"

#include <poll.h>
#include <pthread.h>

#include <curl/curl.h>

#include <algorithm>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace tlgw {
namespace {

CURLM* Multi(void* p) { return static_cast<CURLM*>(p); }

// Tags a failure with its kind (http.h), which the caller sees as the
// ErrorInfo reason.
absl::Status Failure(absl::Status s, absl::string_view kind) {
  s.SetPayload(kUpstreamFailurePayload, absl::Cord(kind));
  return s;
}

absl::Status NotSentError(std::string message, absl::string_view kind = "UPSTREAM_CONNECTION_FAILED") {
  absl::Status s = Failure(absl::UnavailableError(std::move(message)), kind);
  s.SetPayload(kNotSentPayload, absl::Cord("1"));
  return s;
}

constexpr char kShuttingDown[] = "GATEWAY_SHUTTING_DOWN";
constexpr char kUploadAborted[] = "UPLOAD_ABORTED";

}  // namespace

// One request in flight. Owned by the event thread once started.
struct CurlTransport::Transfer {
  uint64_t id = 0;
  bool aborted_by_source = false;
  // A streamed part's source answered kPause on the last read (event thread).
  bool source_paused = false;
  // A final (non-1xx) response status line has arrived.
  bool response_started = false;
  // Unpaused once because the response arrived while the source was paused.
  bool unpaused_for_response = false;
  HttpRequest request;
  Callback done;
  HttpResponse response;
  size_t max_body = 0;
  bool too_large = false;
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  curl_mime* mime = nullptr;
  char error[CURL_ERROR_SIZE] = {0};

  ~Transfer() {
    if (mime != nullptr) curl_mime_free(mime);
    if (headers != nullptr) curl_slist_free_all(headers);
    if (easy != nullptr) curl_easy_cleanup(easy);
  }

  static size_t OnBody(char* data, size_t size, size_t n, void* self) {
    auto* t = static_cast<Transfer*>(self);
    size_t len = size * n;
    if (t->response.body.size() + len > t->max_body) {
      t->too_large = true;
      return 0;  // Makes curl fail the transfer with CURLE_WRITE_ERROR.
    }
    t->response.body.append(data, len);
    return len;
  }

  // The read callback of a streamed part: one per part, pointing back at
  // the transfer so an abort can be told apart from a network failure.
  struct StreamedPart {
    Transfer* transfer;
    BodySource* source;
  };
  std::vector<std::unique_ptr<StreamedPart>> streamed;

  static size_t OnRead(char* buf, size_t size, size_t n, void* arg) {
    auto* part = static_cast<StreamedPart*>(arg);
    int64_t got = part->source->Read(buf, size * n);
    part->transfer->source_paused = got == BodySource::kPause;
    if (got == BodySource::kPause) return CURL_READFUNC_PAUSE;
    if (got < 0) {
      part->transfer->aborted_by_source = true;
      return CURL_READFUNC_ABORT;
    }
    return static_cast<size_t>(got);
  }

  // The body of a chunk PUT (HttpRequest::cord_body).
  std::optional<CordReader> cord_reader;

  static size_t OnCordRead(char* buf, size_t size, size_t n, void* self) {
    return static_cast<Transfer*>(self)->cord_reader->Read(buf, size * n);
  }

  static int OnCordSeek(void* self, curl_off_t offset, int origin) {
    auto* t = static_cast<Transfer*>(self);
    if (origin != SEEK_SET || offset < 0) return CURL_SEEKFUNC_CANTSEEK;
    return t->cord_reader->Seek(static_cast<size_t>(offset)) ? CURL_SEEKFUNC_OK : CURL_SEEKFUNC_FAIL;
  }

  static size_t OnHeader(char* data, size_t size, size_t n, void* self) {
    auto* t = static_cast<Transfer*>(self);
    absl::string_view line(data, size * n);
    if (absl::StartsWith(line, "HTTP/")) {
      t->response.headers.clear();  // A new response (after 100 or a redirect).
      // "HTTP/1.1 100 Continue" is not an answer; anything else is.
      size_t space = line.find(' ');
      if (space == absl::string_view::npos || line.substr(space + 1, 1) != "1") t->response_started = true;
      return line.size();
    }
    size_t colon = line.find(':');
    if (colon != absl::string_view::npos) {
      std::string name = absl::AsciiStrToLower(line.substr(0, colon));
      std::string value(absl::StripAsciiWhitespace(line.substr(colon + 1)));
      t->response.headers.emplace_back(std::move(name), std::move(value));
    }
    return line.size();
  }
};

absl::StatusOr<std::unique_ptr<CurlTransport>> CurlTransport::Create(
    const CurlTransportOptions& options) {
  static std::once_flag once;
  static CURLcode global = CURLE_OK;
  std::call_once(once, [] { global = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (global != CURLE_OK) {
    return absl::InternalError(absl::StrCat("curl_global_init: ", curl_easy_strerror(global)));
  }
  CURLM* multi = curl_multi_init();
  if (multi == nullptr) return absl::InternalError("curl_multi_init failed");
  curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, static_cast<long>(options.max_cached_connections));
  curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, static_cast<long>(options.max_connections));
  return std::unique_ptr<CurlTransport>(new CurlTransport(options, multi));
}

CurlTransport::CurlTransport(const CurlTransportOptions& options, void* multi)
    : options_(options), multi_(multi), thread_([this] { Loop(); }) {}

CurlTransport::~CurlTransport() {
  Stop();
  curl_multi_cleanup(Multi(multi_));
}

void CurlTransport::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  curl_multi_wakeup(Multi(multi_));
  // The event thread fails what is queued and in flight, then ends.
  std::call_once(joined_, [this] { thread_.join(); });
}

void CurlTransport::Send(HttpRequest request, Callback done) {
  auto t = std::make_unique<Transfer>();
  t->request = std::move(request);
  t->done = std::move(done);
  t->max_body = options_.max_response_bytes;
  {
    absl::MutexLock lock(&mu_);
    t->id = next_id_++;
    if (!stopping_) {
      queued_.push_back(std::move(t));
      t = nullptr;
    }
  }
  if (t != nullptr) {
    t->done(NotSentError("the upstream client is shutting down", kShuttingDown));
    return;
  }
  curl_multi_wakeup(Multi(multi_));
}

void CurlTransport::Resume(uint64_t id) {
  {
    absl::MutexLock lock(&mu_);
    resumed_.push_back(id);
  }
  curl_multi_wakeup(Multi(multi_));
}

void CurlTransport::Loop() {
  pthread_setname_np(pthread_self(), "tlgw-upstream");  // for top -H, perf and gdb
  std::unordered_map<CURL*, std::unique_ptr<Transfer>> active;
  std::unordered_map<uint64_t, CURL*> by_id;
  while (true) {
    std::vector<std::unique_ptr<Transfer>> batch;
    std::vector<uint64_t> resumed;
    bool stopping;
    {
      absl::MutexLock lock(&mu_);
      batch.swap(queued_);
      resumed.swap(resumed_);
      stopping = stopping_;
    }
    // Ends a transfer the event loop gives up on itself.
    auto end_transfer = [&](Transfer* raw, absl::Status status) {
      auto it = active.find(raw->easy);
      std::unique_ptr<Transfer> t = std::move(it->second);
      active.erase(it);
      by_id.erase(t->id);
      curl_multi_remove_handle(Multi(multi_), t->easy);
      t->done(std::move(status));
    };
    for (uint64_t id : resumed) {
      auto it = by_id.find(id);
      if (it == by_id.end()) continue;  // the transfer has ended
      Transfer* t = active.at(it->second).get();
      bool aborted = false;
      for (const auto& part : t->streamed) aborted = aborted || part->source->aborted();
      if (aborted) {
        // At once: curl would only see the abort on its next read, which a
        // stalled upstream may never allow.
        end_transfer(t, Failure(absl::CancelledError("the upload was aborted before it reached the Twelve Labs API"),
                                        kUploadAborted));
      } else {
        Unpause(t);
      }
    }
    for (auto& t : batch) {
      if (stopping) {
        t->done(NotSentError("the upstream client is shutting down", kShuttingDown));
        continue;
      }
      CURL* easy = curl_easy_init();
      if (easy == nullptr) {
        t->done(NotSentError("curl_easy_init failed"));
        continue;
      }
      t->easy = easy;
      const HttpRequest& r = t->request;
      curl_easy_setopt(easy, CURLOPT_URL, r.url.c_str());
      curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
      curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
      long connect_ms = absl::ToInt64Milliseconds(options_.connect_timeout);
      if (r.timeout != absl::InfiniteDuration()) {
        long timeout_ms = std::max<long>(1, absl::ToInt64Milliseconds(r.timeout));
        curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, timeout_ms);
        connect_ms = std::min(connect_ms, timeout_ms);
      }
      curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
      curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, t->error);
      curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &Transfer::OnBody);
      curl_easy_setopt(easy, CURLOPT_WRITEDATA, t.get());
      curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &Transfer::OnHeader);
      curl_easy_setopt(easy, CURLOPT_HEADERDATA, t.get());
      curl_easy_setopt(easy, CURLOPT_PRIVATE, t.get());
      // No "Expect: 100-continue" round trip before request bodies.
      t->headers = curl_slist_append(t->headers, "Expect:");
      for (const auto& [k, v] : r.headers) {
        t->headers = curl_slist_append(t->headers, absl::StrCat(k, ": ", v).c_str());
      }
      curl_easy_setopt(easy, CURLOPT_HTTPHEADER, t->headers);
      if (!r.form.empty()) {
        t->mime = curl_mime_init(easy);
        for (const FormPart& p : r.form) {
          curl_mimepart* part = curl_mime_addpart(t->mime);
          curl_mime_name(part, p.name.c_str());
          if (p.source != nullptr) {
            t->streamed.push_back(std::make_unique<Transfer::StreamedPart>(
                Transfer::StreamedPart{t.get(), p.source.get()}));
            uint64_t id = t->id;
            p.source->Attach([this, id] { Resume(id); });
            curl_mime_data_cb(part, static_cast<curl_off_t>(p.size), &Transfer::OnRead, nullptr,
                              nullptr, t->streamed.back().get());
            curl_mime_type(part, "application/octet-stream");
          } else {
            curl_mime_data(part, p.value.data(), p.value.size());
          }
          if (p.filename) curl_mime_filename(part, p.filename->c_str());
        }
        curl_easy_setopt(easy, CURLOPT_MIMEPOST, t->mime);
        if (!t->streamed.empty()) {
          curl_easy_setopt(easy, CURLOPT_UPLOAD_BUFFERSIZE, options_.upload_buffer_bytes);
        }
      } else if (!r.cord_body.empty()) {
        // A chunk PUT: curl pulls the pieces straight into its upload
        // buffer (the request, and so the Cord, lives as long as the
        // transfer), and seeks back when it must send them again (a reused
        // connection that turned out closed).
        t->cord_reader.emplace(&r.cord_body);
        curl_easy_setopt(easy, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(easy, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(r.cord_body.size()));
        curl_easy_setopt(easy, CURLOPT_READFUNCTION, &Transfer::OnCordRead);
        curl_easy_setopt(easy, CURLOPT_READDATA, t.get());
        curl_easy_setopt(easy, CURLOPT_SEEKFUNCTION, &Transfer::OnCordSeek);
        curl_easy_setopt(easy, CURLOPT_SEEKDATA, t.get());
        curl_easy_setopt(easy, CURLOPT_UPLOAD_BUFFERSIZE, options_.put_buffer_bytes);
      } else if (r.method == "POST" || r.method == "PUT" || r.method == "PATCH") {
        // The request lives as long as the transfer.
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, r.body.data());
        curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.body.size()));
      }
      if (r.method != "GET" && r.method != "POST") {
        curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, r.method.c_str());
      }
      CURLMcode mc = curl_multi_add_handle(Multi(multi_), easy);
      if (mc != CURLM_OK) {
        t->done(NotSentError(absl::StrCat("curl_multi_add_handle: ", curl_multi_strerror(mc))));
        continue;
      }
      by_id.emplace(t->id, easy);
      active.emplace(easy, std::move(t));
    }
    if (stopping) {
      for (auto& [easy, t] : active) {
        curl_multi_remove_handle(Multi(multi_), easy);
        // UNAVAILABLE, not CANCELLED: the caller did not cancel, and may
        // retry against a gateway that is up.
        t->done(Failure(absl::UnavailableError("the gateway shut down before the Twelve Labs API answered; "
                                               "retry the call"),
                        kShuttingDown));
      }
      return;
    }
    int running = 0;
    curl_multi_perform(Multi(multi_), &running);
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(Multi(multi_), &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      auto it = active.find(msg->easy_handle);
      if (it == active.end()) continue;
      std::unique_ptr<Transfer> t = std::move(it->second);
      active.erase(it);
      by_id.erase(t->id);
      curl_multi_remove_handle(Multi(multi_), t->easy);
      Finish(t.get(), msg->data.result);
    }
    // An upload paused for want of bytes must still notice the upstream
    // giving up: libcurl 7.88 reads the answer while the send side is
    // paused, but does not end the transfer until it is unpaused, and it
    // cannot tell a connection the server closed from an idle one until it
    // writes to it. Without this the call would wait for the client's next
    // chunk (or the idle timeout) to learn that the upload had failed.
    std::vector<Transfer*> closed;
    for (auto& [easy, t] : active) {
      if (!t->source_paused || t->streamed.empty()) continue;
      if (t->response_started) {
        if (!t->unpaused_for_response) {
          // An answer before the whole body (a 4xx refusing the upload):
          // curl has stopped sending; unpausing lets it finish with it.
          t->unpaused_for_response = true;
          Unpause(t.get());
        }
      } else if (PeerClosed(easy)) {
        closed.push_back(t.get());
      }
    }
    for (Transfer* t : closed) {
      end_transfer(t, Failure(absl::UnavailableError(
                                  "the Twelve Labs API closed the connection before the upload was "
                                  "complete; retry the upload"),
                              "UPSTREAM_CONNECTION_CLOSED"));
    }
    curl_multi_poll(Multi(multi_), nullptr, 0, 1000, nullptr);
  }
}

void CurlTransport::Unpause(Transfer* t) {
  // Why not just curl_easy_pause(CURLPAUSE_CONT) (issue 11, about 1% of
  // small uploads hung): libcurl 7.88's mime reader keeps a paused status
  // per part. When the source answers kPause after curl already had bytes
  // for the same buffer (the boundary and part headers before the file's
  // first byte), curl sends those bytes and marks the *transfer* paused
  // only on its next read, which returns the part's remembered pause
  // without calling the source. A CONT that lands between the two (the
  // first chunk arriving just then) finds the transfer not paused, returns
  // early ("no change") and leaves the part paused; the next read then
  // pauses the transfer for good, and the source, having already called
  // resume, never calls it again: the bytes sit in the pipe. Setting the
  // pause first makes CONT a real transition, the only path that clears
  // the part's status (Curl_mime_unpause). When the transfer was really
  // paused the first call changes nothing.
  t->source_paused = false;
  curl_easy_pause(t->easy, CURLPAUSE_SEND);
  curl_easy_pause(t->easy, CURLPAUSE_CONT);
}

bool CurlTransport::PeerClosed(void* easy) {
  curl_socket_t fd = CURL_SOCKET_BAD;
  if (curl_easy_getinfo(static_cast<CURL*>(easy), CURLINFO_ACTIVESOCKET, &fd) != CURLE_OK ||
      fd == CURL_SOCKET_BAD) {
    return false;
  }
  pollfd p{fd, POLLRDHUP, 0};
  return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

void CurlTransport::Finish(Transfer* t, int code) {
  const auto result = static_cast<CURLcode>(code);
  const std::string detail = t->error[0] != '\0' ? t->error : curl_easy_strerror(result);
  Callback done = std::move(t->done);
  switch (result) {
    case CURLE_OK: {
      long status = 0;
      curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
      t->response.status = static_cast<int>(status);
      done(std::move(t->response));
      return;
    }
    case CURLE_OPERATION_TIMEDOUT:
      done(Failure(absl::DeadlineExceededError(absl::StrCat(
                       "Twelve Labs API did not answer within ",
                       absl::FormatDuration(t->request.timeout), " (", detail, ")")),
                   "UPSTREAM_TIMEOUT"));
      return;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      done(NotSentError(absl::StrCat("cannot resolve the Twelve Labs API's host: ", detail),
                        "UPSTREAM_DNS_FAILED"));
      return;
    case CURLE_COULDNT_CONNECT:
      done(NotSentError(absl::StrCat("cannot connect to the Twelve Labs API: ", detail),
                        "UPSTREAM_CONNECT_FAILED"));
      return;
    case CURLE_ABORTED_BY_CALLBACK:
      if (t->aborted_by_source) {
        done(Failure(absl::CancelledError("the upload was aborted before it reached the Twelve Labs API"),
                     kUploadAborted));
        return;
      }
      break;
    case CURLE_WRITE_ERROR:
      if (t->too_large) {
        done(Failure(absl::InternalError(absl::StrCat(
                         "Twelve Labs API response is larger than ", t->max_body, " bytes")),
                     "UPSTREAM_RESPONSE_TOO_LARGE"));
        return;
      }
      break;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_USE_SSL_FAILED:
      done(Failure(absl::UnavailableError(absl::StrCat("TLS with the Twelve Labs API failed: ", detail)),
                   "UPSTREAM_TLS_FAILED"));
      return;
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      done(Failure(absl::UnavailableError(absl::StrCat("the connection to the Twelve Labs API broke: ", detail)),
                   "UPSTREAM_CONNECTION_RESET"));
      return;
    default:
      break;
  }
  done(Failure(absl::UnavailableError(absl::StrCat("Twelve Labs API connection failed: ", detail)),
               "UPSTREAM_CONNECTION_FAILED"));
}

}  // namespace tlgw
