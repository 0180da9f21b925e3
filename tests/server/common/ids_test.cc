#include "server/common/ids.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace tlgw {
namespace {

TEST(IsResourceId, TwentyFourLowercaseHex) {
  EXPECT_TRUE(IsResourceId("6298d673f1090f1100476d4c"));
  const std::vector<std::string> bad_ids = {
      "", "6298d673f1090f1100476d4", "6298d673f1090f1100476d4c0", "6298D673F1090F1100476D4C",
      "6298d673f1090f1100476d4g", "6298d673f1090f11 0476d4c",
      std::string("6298d673f1090f110047\0d4c", 24)};
  for (const std::string& bad : bad_ids) {
    EXPECT_FALSE(IsResourceId(bad)) << bad;
  }
}

}  // namespace
}  // namespace tlgw
