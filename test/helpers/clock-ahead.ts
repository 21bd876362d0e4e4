/**
 * A preload (`node --import`) that moves the process's clock REGCRED_TEST_CLOCK_AHEAD_DAYS days ahead:
 * `Date.now()` and `new Date()` only (timers, TLS and the API server keep real time). For ages the API
 * server sets itself, such as a Secret's creationTimestamp, which a test cannot write in the past. Not
 * imported by tests themselves (it would move their clock): `clockAhead` in rotator.ts gives a child's env.
 */
const ahead = Number(process.env['REGCRED_TEST_CLOCK_AHEAD_DAYS'] ?? 0) * 86_400_000;
const RealDate = Date;

class AheadDate extends RealDate {
  constructor(...args: ConstructorParameters<DateConstructor> | []) {
    if (args.length === 0) super(RealDate.now() + ahead);
    else super(...args);
  }
  static override now(): number {
    return RealDate.now() + ahead;
  }
}

globalThis.Date = AheadDate as DateConstructor;
