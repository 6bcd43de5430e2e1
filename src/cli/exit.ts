/**
 * The end of the daemon's process. Node's exit waits for the file system calls still running in libuv's
 * threads (it joins them): a call that never returns (a hung NFS mount under `data_dir` or under a file
 * output, a FIFO where a file was expected) kept a stopped daemon alive for ever, and deaf, since a stopped
 * daemon ignores signals. Measured before: an output stuck in such a call, `shutdown_timeout` passed, the
 * summary logged, and the process still there 15 s later, a second SIGTERM ignored; a service manager
 * had to kill it (systemd after `TimeoutStopSec`, 90 s by default; Kubernetes at the end of the grace period).
 * Now the process waits for such calls a while, then says so and kills itself.
 */
import type { Logger } from 'pino';

/** How long a stopped daemon waits for its file system calls to return before it kills itself. */
export const EXIT_GRACE_MS = 2000;
const POLL_MS = 20;

let daemonLogger: Logger | undefined;

/** The daemon's log, where `exitWhenFileCallsReturn` says why it kills the process (before it has one: stderr). */
export function exitLogger(logger: Logger): void {
  daemonLogger = logger;
}

/** File system calls under way: each is an `FSReqCallback` or `FSReqPromise` among the process's active resources. */
export function pendingFileCalls(): number {
  let n = 0;
  for (const r of process.getActiveResourcesInfo()) if (r.startsWith('FSReq')) n += 1;
  return n;
}

/**
 * Exits with `code` once no file system call is under way. When some are still under way after `graceMs`,
 * says so (in the daemon's log when it has one) and kills the process with SIGKILL: exit would wait for them.
 */
export function exitWhenFileCallsReturn(code: number, graceMs = EXIT_GRACE_MS): void {
  const logger = daemonLogger;
  const since = performance.now();
  const check = () => {
    const calls = pendingFileCalls();
    if (calls === 0) {
      process.exit(code);
      return;
    }
    if (performance.now() - since < graceMs) {
      setTimeout(check, POLL_MS);
      return;
    }
    const message = `exiting by SIGKILL instead of with ${code}: ${calls} file system call${calls === 1 ? '' : 's'} (a hung mount? a FIFO where a file should be?) did not return within ${graceMs / 1000} s of the stop, and the process could not end while ${calls === 1 ? 'it runs' : 'they run'}`;
    if (logger) logger.error({ exit_code: code, file_calls: calls, waited_ms: graceMs }, message);
    else process.stderr.write(`driftlock: ${message}\n`);
    process.kill(process.pid, 'SIGKILL');
  };
  check();
}
