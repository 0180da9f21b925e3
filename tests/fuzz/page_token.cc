// Fuzzes page tokens (server/services/page_token.h): DecodePageToken,
// EncodePageToken, StartLocalPage and SliceLocalPage on arbitrary tokens,
// filters, sizes and positions.
//
// Asserts (abort() on failure):
// - a token that decodes has page >= 1, page_size >= 0 and the filters it
//   was checked against, and encoding it again decodes to the same values;
// - any valid PageToken survives Encode -> Decode unchanged, with its own
//   filters, and is refused with any other filters; an invalid one (page < 1
//   or page_size < 0) never decodes;
// - a local page is [begin, end) within [0, total], and its next token is
//   present exactly when end < total and decodes to position end + 1.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/escaping.h"
#include "server/services/page_token.h"

namespace {

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "page_token invariant failed: %s\n", what);
    std::abort();
  }
}

bool Same(const tlgw::PageToken& a, const tlgw::PageToken& b) {
  return a.page == b.page && a.page_size == b.page_size && a.filters == b.filters;
}

void CheckDecoded(const tlgw::PageToken& t, const std::string& filters) {
  Check(t.page >= 1, "decoded page >= 1");
  Check(t.page_size >= 0, "decoded page_size >= 0");
  Check(t.filters == filters, "decoded filters are the requested ones");
  auto again = tlgw::DecodePageToken("page_token", tlgw::EncodePageToken(t), filters);
  Check(again.ok() && Same(*again, t), "decode(encode(decoded)) round trip");
}

}  // namespace

// Input: a mode byte, page_size (8 bytes, little-endian), the listing's
// size (4 bytes, little-endian, at most 2^20), the filters up to the first
// '\n', then the token. Missing bytes read as zero.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  size_t pos = 0;
  auto take = [&](int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; ++i, ++pos) v |= static_cast<uint64_t>(pos < size ? data[pos] : 0) << (8 * i);
    return v;
  };
  const uint8_t mode = static_cast<uint8_t>(take(1));
  const int64_t page_size = static_cast<int64_t>(take(8));
  const size_t total = static_cast<size_t>(take(4) % ((1 << 20) + 1));
  const std::string rest(reinterpret_cast<const char*>(data) + std::min(pos, size),
                         size - std::min(pos, size));
  const size_t nl = rest.find('\n');
  const std::string filters = rest.substr(0, nl);
  std::string token = nl == std::string::npos ? std::string() : rest.substr(nl + 1);
  // Half the time the input is the token's decoded text ("p1:2:10:f"), so
  // the fuzzer works on the fields rather than on getting base64 right.
  if (mode & 1) token = absl::WebSafeBase64Escape(token);

  auto decoded = tlgw::DecodePageToken("page_token", token, filters);
  if (decoded.ok()) CheckDecoded(*decoded, filters);

  // Encode -> Decode of arbitrary values.
  tlgw::PageToken made{page_size, static_cast<int64_t>(total) - 1, filters};
  if (mode & 2) made.page = static_cast<int64_t>(total) + 1;
  auto back = tlgw::DecodePageToken("page_token", tlgw::EncodePageToken(made), filters);
  if (made.page >= 1 && made.page_size >= 0) {
    Check(back.ok() && Same(*back, made), "valid token round trip");
    auto other = tlgw::DecodePageToken("page_token", tlgw::EncodePageToken(made), filters + "x");
    Check(!other.ok(), "a token is refused with other filters");
  } else {
    Check(!back.ok(), "an invalid token never decodes");
  }

  // Local paging.
  const std::string local_token = (mode & 4) ? std::string() : token;
  auto start = tlgw::StartLocalPage("page_token", local_token, page_size, filters);
  if (!start.ok()) {
    Check(!local_token.empty(), "the first page always starts");
    return 0;
  }
  Check(start->page >= 1, "start page >= 1");
  Check(start->filters == filters, "start filters");
  if (page_size > 0) Check(start->page_size == page_size, "a non-zero page_size overrides the token's");
  if (local_token.empty()) Check(start->page == 1, "no token: position 1");
  tlgw::LocalPage page = tlgw::SliceLocalPage(*start, total);
  Check(page.begin <= page.end && page.end <= total, "0 <= begin <= end <= total");
  if (start->page_size > 0) {
    Check(page.end - page.begin <= static_cast<uint64_t>(start->page_size), "at most page_size items");
  }
  Check(page.next_page_token.empty() == (page.end == total), "a next token exactly when items remain");
  if (!page.next_page_token.empty()) {
    auto next = tlgw::DecodePageToken("page_token", page.next_page_token, filters);
    Check(next.ok(), "the next token decodes");
    Check(next->page == static_cast<int64_t>(page.end) + 1, "the next token starts after this page");
    Check(next->page_size == start->page_size, "the next token keeps page_size");
  }
  return 0;
}
