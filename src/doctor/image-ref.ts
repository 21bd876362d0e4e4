import { DOCKER_HUB_KEY } from '../credentials/registry-key.ts';

/**
 * The registry an image reference pulls from, normalised like pull-secret keys: the first path component
 * when it looks like a host (has "." or ":" or is "localhost"), Docker Hub otherwise.
 */
export function imageRegistry(image: string): string {
  const first = image.split('/')[0] ?? '';
  if (image.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    return ['docker.io', 'index.docker.io', 'registry-1.docker.io'].includes(first)
      ? DOCKER_HUB_KEY
      : first.toLowerCase();
  }
  return DOCKER_HUB_KEY;
}

/** Whether a pull-secret key serves an image's registry (host match; a key with a path must prefix the image). */
export function keyServes(key: string, image: string): boolean {
  const reg = imageRegistry(image);
  if (key === DOCKER_HUB_KEY || reg === DOCKER_HUB_KEY) return key === reg;
  const slash = key.indexOf('/');
  const host = slash < 0 ? key : key.slice(0, slash);
  if (host.startsWith('*.'))
    return reg.endsWith(host.slice(1)) && reg.split('.').length === host.split('.').length;
  if (host !== reg) return false;
  return slash < 0 || image.startsWith(key);
}
