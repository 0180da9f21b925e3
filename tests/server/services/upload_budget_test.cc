// UploadBudget: reservations taken whole, shrunk and released (by hand or
// by going out of scope), refusals once the budget cannot cover a new one,
// and the totals under many threads at once.
#include "server/services/upload_budget.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "server/common/status_details.h"

namespace tlgw {
namespace {

TEST(UploadBudgetTest, ReservesShrinksAndReleases) {
  UploadBudget budget(100);
  auto a = budget.Reserve(60);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->bytes(), 60);
  EXPECT_EQ(budget.reserved(), 60);
  a->ShrinkTo(25);
  EXPECT_EQ(a->bytes(), 25);
  EXPECT_EQ(budget.reserved(), 25);
  a->ShrinkTo(40);  // never grows
  EXPECT_EQ(a->bytes(), 25);
  EXPECT_EQ(budget.reserved(), 25);
  a->Release();
  EXPECT_EQ(a->bytes(), 0);
  EXPECT_EQ(budget.reserved(), 0);
  a->Release();  // twice is harmless
  EXPECT_EQ(budget.reserved(), 0);
}

TEST(UploadBudgetTest, RefusesWhatDoesNotFitAndCountsIt) {
  UploadBudget budget(100);
  auto a = budget.Reserve(70);
  ASSERT_TRUE(a.ok());
  auto b = budget.Reserve(31);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ErrorReason(b.status()), "UPLOAD_CAPACITY");
  ASSERT_TRUE(RetryDelay(b.status()).has_value());
  EXPECT_GE(*RetryDelay(b.status()), absl::Seconds(1));
  EXPECT_EQ(budget.refusals(), 1);
  EXPECT_EQ(budget.reserved(), 70) << "a refusal reserves nothing";
  auto c = budget.Reserve(30);  // exactly what is left
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(budget.reserved(), 100);
  EXPECT_FALSE(budget.Reserve(1).ok());
  EXPECT_EQ(budget.refusals(), 2);
  // Shrinking one makes room for another.
  a->ShrinkTo(40);
  EXPECT_TRUE(budget.Reserve(30).ok());  // released at once (a temporary)
  EXPECT_EQ(budget.reserved(), 70);
  EXPECT_FALSE(budget.Reserve(101).ok()) << "never more than the whole budget";
}

TEST(UploadBudgetTest, ReservationGivesItsBytesBackWhenDestroyedOrMovedOver) {
  UploadBudget budget(100);
  {
    auto a = budget.Reserve(50);
    ASSERT_TRUE(a.ok());
    UploadBudget::Reservation moved = *std::move(a);
    EXPECT_EQ(moved.bytes(), 50);
    EXPECT_EQ(a->bytes(), 0);  // NOLINT(bugprone-use-after-move): moved-from is empty
    EXPECT_EQ(budget.reserved(), 50);
    UploadBudget::Reservation other = *budget.Reserve(20);
    EXPECT_EQ(budget.reserved(), 70);
    other = std::move(moved);  // other's 20 go back
    EXPECT_EQ(budget.reserved(), 50);
    EXPECT_EQ(other.bytes(), 50);
  }
  EXPECT_EQ(budget.reserved(), 0);
}

TEST(UploadBudgetTest, ReservationOutlivingTheBudgetStillReleases) {
  UploadBudget::Reservation kept;
  {
    UploadBudget budget(10);
    kept = *budget.Reserve(10);
  }
  kept.Release();  // no use of freed memory (run under ASan in CI)
  EXPECT_EQ(kept.bytes(), 0);
}

TEST(UploadBudgetTest, ManyThreadsNeverExceedTheBudgetAndEndAtZero) {
  constexpr int64_t kCapacity = 1000;
  UploadBudget budget(kCapacity);
  std::atomic<int64_t> granted{0}, refused{0};
  std::atomic<bool> over{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        auto r = budget.Reserve(100 + (i + t) % 150);
        if (!r.ok()) {
          ++refused;
          continue;
        }
        ++granted;
        if (budget.reserved() > kCapacity) over = true;
        r->ShrinkTo(50);
        if (budget.reserved() > kCapacity) over = true;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_FALSE(over.load());
  EXPECT_EQ(budget.reserved(), 0);
  EXPECT_EQ(budget.refusals(), refused.load());
  EXPECT_EQ(granted.load() + refused.load(), 8 * 2000);
  EXPECT_GT(granted.load(), 0);
}

}  // namespace
}  // namespace tlgw
