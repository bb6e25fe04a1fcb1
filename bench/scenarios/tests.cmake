# SPDX-License-Identifier: MIT
# ctest for bench/scenarios (issue #20): the harness at smoke size (every result checked,
# nothing timed against a target) and the check that its validation catches skipped work.
# Labelled like the other benchmark smoke tests (python;example;bench: run by
# scripts/test.sh's gcc step, left out of the sanitizer step). bench/ is configured before
# python/ and before enable_testing(), so the tests are added at the end of the top-level
# directory, once python/ has chosen its interpreter and built target mmarr_python.
function(mmarr_bench_scenarios_tests)
  if(NOT MMARR_BUILD_TESTS OR NOT MMARR_BUILD_EXAMPLES OR NOT TARGET mmarr_python)
    return()
  endif()
  get_directory_property(_py DIRECTORY ${PROJECT_SOURCE_DIR}/python
                         DEFINITION Python3_EXECUTABLE)
  set(_src ${PROJECT_SOURCE_DIR}/bench/scenarios)
  set(_work ${PROJECT_BINARY_DIR}/bench/bench-scenarios)
  add_test(NAME bench_scenarios_smoke
    COMMAND ${_py} ${_src}/bench_scenarios.py --smoke --dir ${_work}
            --out ${_work}/results/results.md)
  add_test(NAME bench_scenarios_validation
    COMMAND ${_py} ${_src}/check_validation.py --dir ${_work})
  set_tests_properties(bench_scenarios_smoke bench_scenarios_validation PROPERTIES
    LABELS "python;example;bench" TIMEOUT 600 RUN_SERIAL TRUE SKIP_RETURN_CODE 77
    ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1;PYTHONPATH=${PROJECT_BINARY_DIR}/python")
endfunction()
cmake_language(DEFER DIRECTORY ${PROJECT_SOURCE_DIR} CALL mmarr_bench_scenarios_tests)
