import * as z from 'zod';
import { secretRefSchema } from '../context.ts';

/** Harbor's own rule for project and robot names (lower case, `.`, `_`, `-` between alphanumerics). */
const HARBOR_NAME = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;

const permission = z.strictObject({
  /** A project-level resource, e.g. `repository`, `artifact`. */
  resource: z.string().min(1),
  /** e.g. `pull`, `push`, `read`, `list`. */
  action: z.string().min(1),
});

export const harborRobotIssuerSchema = z.strictObject({
  type: z.literal('harbor-robot'),
  /** Harbor's external URL, e.g. https://harbor.example.com (the API is under /api/v2.0). */
  url: z.url({ error: 'url must be a URL such as https://harbor.example.com' }),
  project: z.string().regex(HARBOR_NAME, 'project must be a Harbor project name (lower case)'),
  /**
   * Base name of the robot pair: the project robots `<robot>-a` and `<robot>-b` (full names
   * `robot$<project>+<robot>-a|b`) are used in turn, because a Harbor robot has one secret and refreshing
   * it invalidates the old one at once.
   */
  robot: z.string().regex(HARBOR_NAME, 'robot must be a Harbor robot name (lower case, no `robot$`, no `+`)'),
  /** What the robots may do in the project; least privilege is pulling only. */
  permissions: z
    .array(permission)
    .min(1)
    .default([{ resource: 'repository', action: 'pull' }]),
  /**
   * How long each issued secret must stay valid after its issue, in days (-1: never expires). Harbor
   * counts a robot's expiry from its creation and a refresh does not extend it, so the issuer extends the
   * robot's `duration` when a refreshed secret would expire sooner. The default outlives a 90-day rotation
   * policy by a month, so a late rotation does not break pulls, while an abandoned robot still expires.
   */
  durationDays: z.union([z.literal(-1), z.number().int().positive()]).default(120),
  /**
   * The managing identity: a Harbor user (project admin of `project`, or a system admin). A `robot$…` name
   * is refused here; a robot under another `robot_name_prefix` is refused by Harbor's answers at run time.
   */
  login: z.strictObject({
    username: z
      .string()
      .min(1)
      .refine((u) => !u.startsWith('robot$'), {
        error:
          'must be a Harbor user, not a robot: Harbor never lets a robot refresh or update robots (robot:update cannot be granted)',
      }),
    /** Where the managing user's password comes from: a key of the target's store, or a file. */
    password: secretRefSchema,
  }),
  /** PEM CA bundle to trust instead of the system roots. */
  caFile: z.string().optional(),
  requestTimeoutSeconds: z.number().positive().default(10),
});
export type HarborRobotIssuerConfig = z.infer<typeof harborRobotIssuerSchema>;
