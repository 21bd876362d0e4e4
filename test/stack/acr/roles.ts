/** The RBAC side of ARM that the double models: role definitions and how an action matches a grant. */
import type { RoleDefinition } from './model.ts';

/**
 * Built-in roles, reduced to their Microsoft.ContainerRegistry actions (the full lists: Azure's
 * built-in-roles reference, "Containers").
 */
export const BUILT_IN_ROLES: RoleDefinition[] = [
  {
    id: '3bc748fc-213d-45c1-8d91-9da5725539b9',
    name: 'Container Registry Contributor and Data Access Configuration Administrator',
    actions: [
      'Microsoft.ContainerRegistry/registries/operationStatuses/read',
      'Microsoft.ContainerRegistry/registries/read',
      'Microsoft.ContainerRegistry/registries/write',
      'Microsoft.ContainerRegistry/registries/delete',
      'Microsoft.ContainerRegistry/registries/listCredentials/action',
      'Microsoft.ContainerRegistry/registries/regenerateCredential/action',
      'Microsoft.ContainerRegistry/registries/generateCredentials/action',
      'Microsoft.ContainerRegistry/registries/tokens/read',
      'Microsoft.ContainerRegistry/registries/tokens/write',
      'Microsoft.ContainerRegistry/registries/tokens/delete',
      'Microsoft.ContainerRegistry/registries/tokens/operationStatuses/read',
      'Microsoft.ContainerRegistry/registries/scopeMaps/read',
      'Microsoft.ContainerRegistry/registries/scopeMaps/write',
      'Microsoft.ContainerRegistry/registries/scopeMaps/delete',
      'Microsoft.ContainerRegistry/registries/scopeMaps/operationStatuses/read',
    ],
  },
  {
    id: '69b07be0-09bf-439a-b9a6-e73de851bd59',
    name: 'Container Registry Configuration Reader and Data Access Configuration Reader',
    actions: [
      'Microsoft.ContainerRegistry/registries/operationStatuses/read',
      'Microsoft.ContainerRegistry/registries/read',
      'Microsoft.ContainerRegistry/registries/listCredentials/action',
      'Microsoft.ContainerRegistry/registries/tokens/read',
      'Microsoft.ContainerRegistry/registries/tokens/operationStatuses/read',
      'Microsoft.ContainerRegistry/registries/scopeMaps/read',
      'Microsoft.ContainerRegistry/registries/scopeMaps/operationStatuses/read',
    ],
  },
];

/** `Microsoft.X/a/*` matches any action below `a`; ARM compares actions case-insensitively. */
export function actionAllowed(granted: readonly string[], action: string): boolean {
  const a = action.toLowerCase();
  return granted.some((g) => {
    const p = g.toLowerCase();
    return p === a || (p.endsWith('/*') && a.startsWith(p.slice(0, -1)));
  });
}
