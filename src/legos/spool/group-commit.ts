/**
 * Group commit: callers that need "everything written so far is fsynced" share fsyncs.
 * A request joins the fsync queued behind the running one, or queues one; so at most one
 * fsync runs and one waits, however many appends ask, and each request is satisfied by an
 * fsync that started after it was made.
 */

const noop = (): void => undefined;

/** Coalesces requests for one repeated operation (an fsync of the active segment). */
export class GroupCommit {
  private readonly run: () => Promise<void>;
  private running: Promise<void> | undefined;
  private queued: Promise<void> | undefined;

  /** `run` starts one fsync; it is never called while another is running. */
  constructor(run: () => Promise<void>) {
    this.run = run;
  }

  /** True while a request is waiting for the next run. */
  get pending(): boolean {
    return this.queued !== undefined;
  }

  /** Resolves after a run that started after this call completed; rejects with its error. */
  request(): Promise<void> {
    if (this.queued) return this.queued;
    const after = this.running ? this.running.catch(noop) : Promise.resolve();
    const queued = after.then(() => {
      this.queued = undefined;
      const running = this.run();
      this.running = running;
      return running.finally(() => {
        if (this.running === running) this.running = undefined;
      });
    });
    this.queued = queued;
    return queued;
  }

  /** Resolves when no run is in progress (errors ignored). */
  async idle(): Promise<void> {
    while (this.running || this.queued) await (this.queued ?? this.running)?.catch(noop);
  }
}
