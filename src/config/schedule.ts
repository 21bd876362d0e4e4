import cron from 'node-cron';

/**
 * Kubernetes CronJob schedules (robfig/cron) and node-cron disagree on one point: when both day-of-month
 * and day-of-week are restricted, cron fires on days matching EITHER; node-cron requires BOTH. We keep the
 * CronJob meaning by splitting such a schedule into two node-cron expressions (one per day field) whose
 * firings the scheduler de-duplicates by minute.
 */
const DESCRIPTORS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

const unrestricted = (field: string): boolean => field === '*' || field === '?' || field === '*/1';

export interface ParsedSchedule {
  /** The node-cron expressions whose union is the schedule. */
  expressions: string[];
  /** True when the expression has a seconds field (node-cron extension; not valid in a CronJob). */
  hasSeconds: boolean;
}

/** Parses a schedule; returns an error message instead when it is not valid. */
export function parseSchedule(schedule: string): ParsedSchedule | { error: string } {
  const text = DESCRIPTORS[schedule.trim()] ?? schedule.trim();
  if (text.startsWith('@'))
    return { error: `unknown descriptor "${schedule}" (known: ${Object.keys(DESCRIPTORS).join(', ')})` };
  if (/^(CRON_)?TZ=/.test(text)) return { error: 'put the time zone in `timeZone`, not in the schedule' };
  const fields = text.split(/\s+/);
  if (fields.length !== 5 && fields.length !== 6) {
    return {
      error: `"${schedule}" has ${fields.length} fields; expected 5 (minute hour day-of-month month day-of-week)`,
    };
  }
  const check = cron.validateDetailed(fields.join(' '));
  if (!check.valid) {
    const why = check.errors.map((e) => `${e.field}: ${e.message}`).join('; ');
    return { error: `"${schedule}" is not a valid cron expression (${why || 'invalid'})` };
  }
  const dayIdx = fields.length - 3;
  const dom = fields[dayIdx] ?? '*';
  const dow = fields[dayIdx + 2] ?? '*';
  const hasSeconds = fields.length === 6;
  if (unrestricted(dom) || unrestricted(dow)) return { expressions: [fields.join(' ')], hasSeconds };
  const byDom = [...fields];
  byDom[dayIdx + 2] = '*';
  const byDow = [...fields];
  byDow[dayIdx] = '*';
  return { expressions: [byDom.join(' '), byDow.join(' ')], hasSeconds };
}

export function isValidTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}
