// Prints jest's totals as one plain line, `jest: N passed, N failed`, which CI reads.
class SummaryReporter {
  onRunComplete(_contexts, results) {
    console.log(`jest: ${results.numPassedTests} passed, ${results.numFailedTests + results.numRuntimeErrorTestSuites} failed`);
  }
}
module.exports = SummaryReporter;
