// The simulator's shared presigned-PUT link (--presigned_link_mbps), on a
// fake clock: the waits it imposes, across readers, and no saved-up burst.
#include "sim/link_shaper.h"

#include <gtest/gtest.h>

#include <vector>

namespace tlsim {
namespace {

// Within a microsecond: a byte count over a rate is not exact in doubles.
bool Near(absl::Duration got, absl::Duration want) {
  const bool near = absl::AbsDuration(got - want) < absl::Microseconds(1);
  if (!near) ADD_FAILURE() << "waited " << got << ", expected " << want;
  return near;
}

TEST(LinkShaper, ReadersShareOneLinkAndOnlyALittleIdleTimeIsSavedUp) {
  absl::Time now = absl::UnixEpoch();
  std::vector<absl::Duration> slept;
  // 8 Mbit/s: 1,000,000 bytes per second.
  LinkShaper link(8e6, [&] { return now; }, [&](absl::Duration d) { slept.push_back(d); });
  // An idle link's saved-up 20 ms (20,000 bytes) go first.
  EXPECT_TRUE(Near(link.Take(520000), absl::Milliseconds(500)));
  // A second reader (another connection) at the same instant queues behind
  // the first one's bytes.
  EXPECT_TRUE(Near(link.Take(250000), absl::Milliseconds(750)));
  // The first reader wakes 5 ms late: those 5 ms are not lost.
  now += absl::Milliseconds(755);
  EXPECT_TRUE(Near(link.Take(5000), absl::ZeroDuration()));
  EXPECT_TRUE(Near(link.Take(1000), absl::Milliseconds(1)));
  // After a long idle time only 20 ms are owed: 1 MB still takes 980 ms.
  now += absl::Seconds(60);
  EXPECT_TRUE(Near(link.Take(1000000), absl::Milliseconds(980)));
  EXPECT_EQ(slept.size(), 4u) << "no sleep when nothing is to wait";
}

}  // namespace
}  // namespace tlsim
