/**
 * Ends a vitest run with one plain line, `Tests: N passed, N failed, N skipped`,
 * that CI tools read without knowing vitest's own summary format. It is the
 * last reporter, and vitest's own summary is printed in `onFinished` too.
 */
import type { RunnerTask, RunnerTestFile } from "vitest"
import type { Reporter } from "vitest/node"

const tally = (tasks: ReadonlyArray<RunnerTask>, counts: Record<"passed" | "failed" | "skipped", number>): void => {
  for (const task of tasks) {
    if (task.type === "suite") {
      // A failed hook or a file that did not load fails the suite itself.
      if ((task.result?.errors?.length ?? 0) > 0) counts.failed++
      tally(task.tasks, counts)
    }
    else if (task.result?.state === "pass") counts.passed++
    else if (task.result?.state === "fail") counts.failed++
    else counts.skipped++
  }
}

export default class SummaryReporter implements Reporter {
  onFinished(files: ReadonlyArray<RunnerTestFile> = []) {
    const counts = { passed: 0, failed: 0, skipped: 0 }
    tally(files, counts)
    process.stdout.write(`\nTests: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped\n`)
  }
}
