// main() of every test binary (rleif_add_test links it instead of gtest_main): GoogleTest's main,
// plus one line when optional tests skipped and nothing failed. ctest's SKIP_REGULAR_EXPRESSION
// (cmake/RleifTesting.cmake) matches that line, so a binary whose only outcome beyond passes is
// a skip (no CUDA device, no AVX2) shows as "Skipped" in ctest, and a failure is never hidden.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

namespace {

class SkipReport : public ::testing::EmptyTestEventListener {
  void OnTestIterationEnd(const ::testing::UnitTest& u, int) override {
    if (!u.Passed() || u.skipped_test_count() == 0) return;
    std::string names;
    for (int i = 0; i < u.total_test_suite_count(); ++i) {
      const ::testing::TestSuite& s = *u.GetTestSuite(i);
      for (int j = 0; j < s.total_test_count(); ++j)
        if (s.GetTestInfo(j)->result()->Skipped())
          names += std::string(names.empty() ? "" : ", ") + s.name() + "." + s.GetTestInfo(j)->name();
    }
    std::printf("rleif: %d optional test(s) skipped (%s), %d passed, none failed [rleif-skipped]\n",
                u.skipped_test_count(), names.c_str(), u.successful_test_count());
    std::fflush(stdout);
  }
};

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::UnitTest::GetInstance()->listeners().Append(new SkipReport);
  return RUN_ALL_TESTS();
}
