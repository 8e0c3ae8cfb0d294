// Prints one plain closing line that any CI reads the same way: "tests: N passed, N failed, N skipped",
// preceded by the detection times the tests measured (lines "detection: ...", see test/support/detection.ts),
// gathered here so that they stand together at the end of `npm test` rather than among each file's output.
class SummaryReporter {
  constructor() {
    this.detections = [];
  }

  onTestResult(_test, testResult) {
    for (const entry of testResult.console ?? []) {
      if (typeof entry.message === 'string' && entry.message.startsWith('detection: ')) this.detections.push(entry.message);
    }
  }

  onRunComplete(_contexts, results) {
    for (const line of this.detections) process.stdout.write(`${line}\n`);
    const { numPassedTests, numFailedTests, numPendingTests, numTodoTests } = results;
    process.stdout.write(`tests: ${numPassedTests} passed, ${numFailedTests} failed, ${numPendingTests + numTodoTests} skipped\n`);
  }
}
module.exports = SummaryReporter;
