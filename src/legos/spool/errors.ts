/**
 * Typed spool errors. Each carries a stable `code` and whether retrying the same call
 * later can succeed (`retryable`), so the agent classifies them once.
 */

/** Base class of every error the spool throws on purpose. */
export class SpoolError extends Error {
  /** Stable identifier, e.g. `SpoolFull`. */
  readonly code: string;
  /** True when the same call may succeed later without operator action. */
  readonly retryable: boolean;

  constructor(code: string, message: string, options: { retryable: boolean; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = `${code}Error`;
    this.code = code;
    this.retryable = options.retryable;
  }
}

/** Invalid options or an argument out of range (a bug in the caller); not retryable. */
export class SpoolConfigError extends SpoolError {
  constructor(message: string) {
    super('SpoolConfig', message, { retryable: false });
  }
}

/**
 * The `block` overflow policy refused an append: the spool holds `heldBytes` of
 * `maxBytes` and the batch needs `neededBytes`. Retryable once acknowledgements free
 * space (see `LocalDurableSpool.waitForRoom`). Nothing of the batch was written.
 */
export class SpoolFullError extends SpoolError {
  readonly heldBytes: number;
  readonly maxBytes: number;
  readonly neededBytes: number;

  constructor(details: { heldBytes: number; maxBytes: number; neededBytes: number; reason: string }) {
    super('SpoolFull', `spool full: ${details.reason}`, { retryable: true });
    this.heldBytes = details.heldBytes;
    this.maxBytes = details.maxBytes;
    this.neededBytes = details.neededBytes;
  }
}

/**
 * Damaged data: names the segment file, the byte position of the damage and the offset
 * expected there. On open it is reported (in `RecoveryReport.corruptions`), not thrown;
 * `quarantinedAs` names the copy of the original file kept for inspection.
 */
export class SpoolCorruptionError extends SpoolError {
  readonly file: string;
  readonly position: number;
  readonly expectedOffset: number;
  /** Records known to be unreadable because of this damage (a lower bound). */
  readonly recordsLost: number;
  readonly quarantinedAs: string | undefined;

  constructor(details: { file: string; position: number; expectedOffset: number; detail: string; recordsLost: number; quarantinedAs?: string | undefined }) {
    const kept = details.quarantinedAs === undefined ? '' : `; original kept as ${details.quarantinedAs}`;
    super('SpoolCorruption', `corrupt spool segment ${details.file} at byte ${details.position} (expected offset ${details.expectedOffset}): ${details.detail}${kept}`, { retryable: false });
    this.file = details.file;
    this.position = details.position;
    this.expectedOffset = details.expectedOffset;
    this.recordsLost = details.recordsLost;
    this.quarantinedAs = details.quarantinedAs;
  }
}

/** A write failed (e.g. ENOSPC) and was rolled back: nothing of the batch was appended. */
export class SpoolWriteError extends SpoolError {
  constructor(message: string, cause: unknown) {
    super('SpoolWrite', message, { retryable: true, cause });
  }
}

/**
 * The spool stopped accepting appends because durability can no longer be promised (an
 * fsync failed, or a failed write could not be rolled back). Reopen to recover.
 */
export class SpoolFailedError extends SpoolError {
  constructor(message: string, cause: unknown) {
    super('SpoolFailed', message, { retryable: false, cause });
  }
}

/** The spool was closed. */
export class SpoolClosedError extends SpoolError {
  constructor(what: string) {
    super('SpoolClosed', `${what}: spool is closed`, { retryable: false });
  }
}
