# ppo cli: `rleif ppo` end to end on a tiny policy, IRM and PRM: SIGKILL and resume end bitwise equal
# to an uninterrupted run, on-policy ratio exactly 1, every algorithm and reward kind, bad input.
rleif_add_test(NAME ppo_cli_test CLI
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/integration/ppo_cli_test.cc
  LIBS rleif_rm_test_util rleif_core
  TIMEOUT 900
  LABELS integration)
