/**
 * Harbor's permission tables, as data (from goharbor/harbor `src/common/rbac/const.go` and
 * `src/common/rbac/project/rbac_role.go`, v2.15): which `resource:action` pairs a robot may be granted at
 * each level, and what each project role and a public project allow. The double evaluates permissions
 * from these, so a robot asking for `robot:update` gets Harbor's 400 and a developer gets Harbor's 403.
 */

const list = (s: string): string[] => s.split(/\s+/).filter(Boolean);

/** What `/api/v2.0/permissions` offers a project-level robot (NolimitProvider, ScopeProject). */
export const PROJECT_ROBOT_PERMISSIONS = new Set(
  list(`log:list project:read project:delete project:update
  metadata:read metadata:create metadata:delete metadata:list metadata:update
  repository:read repository:update repository:delete repository:list repository:pull repository:push
  artifact:read artifact:create artifact:list artifact:delete scan:create scan:read scan:stop
  sbom:create sbom:stop sbom:read tag:create tag:list tag:delete accessory:list artifact-addition:read
  artifact-label:create artifact-label:delete scanner:create scanner:read
  preheat-policy:read preheat-policy:create preheat-policy:delete preheat-policy:list preheat-policy:update
  immutable-tag:create immutable-tag:delete immutable-tag:list immutable-tag:update
  notification-policy:read notification-policy:create notification-policy:delete notification-policy:list
  notification-policy:update tag-retention:read tag-retention:create tag-retention:delete tag-retention:list
  tag-retention:update label:read label:create label:delete label:list label:update quota:read
  robot:create robot:read robot:list robot:delete export-cve:create export-cve:read
  member:create member:read member:update member:list member:delete`),
);

/** What a system-level robot may be granted at the system scope (ScopeSystem; a subset is modelled). */
export const SYSTEM_ROBOT_PERMISSIONS = new Set(
  list(`audit-log:list project:list project:create catalog:read quota:read quota:list quota:update
  robot:create robot:read robot:list robot:delete user:create user:read user:update user:list user:delete
  registry:read registry:create registry:delete registry:list registry:update label:read label:create
  label:delete label:update scanner:read scanner:create scanner:delete scanner:list scanner:update`),
);

/** Project roles by Harbor's role id, with the policies that matter here (`""` is the project itself). */
export const ROLES: Record<number, { name: string; policies: Set<string> }> = {
  1: {
    name: 'projectAdmin',
    policies: new Set(
      list(`:read :update :delete member:create member:read member:update member:delete member:list
      repository:create repository:read repository:update repository:delete repository:list repository:pull
      repository:push robot:create robot:read robot:update robot:delete robot:list`),
    ),
  },
  4: {
    name: 'maintainer',
    policies: new Set(
      list(`:read member:read member:list repository:create repository:read repository:update
      repository:delete repository:list repository:push repository:pull robot:read robot:list`),
    ),
  },
  2: {
    name: 'developer',
    policies: new Set(
      list(`:read member:read member:list repository:create repository:read repository:update
      repository:list repository:push repository:pull robot:read robot:list`),
    ),
  },
  3: {
    name: 'guest',
    policies: new Set(
      list(
        `:read member:read member:list repository:read repository:list repository:pull robot:read robot:list`,
      ),
    ),
  },
  5: {
    name: 'limitedGuest',
    policies: new Set(list(':read repository:list repository:read repository:pull')),
  },
};

/** Everyone (anonymous too) gets these on a public project. */
export const PUBLIC_PROJECT = new Set(list(':read label:read label:list repository:list repository:pull'));

/** The repository actions a registry token can carry, and the order Harbor's map iteration may give. */
export const TOKEN_ACTIONS = ['pull', 'push', 'delete', 'scanner-pull'] as const;
