/** Joins a configured base URL and a path without doubling or losing slashes. */
export function joinUrl(baseUrl: string, path: string): string {
  return baseUrl.replace(/\/+$/, '') + (path.startsWith('/') ? path : `/${path}`);
}

/**
 * The base URL with its API version segment: a registry may name `https://api.anthropic.com` or
 * `https://api.anthropic.com/v1`; both call `.../v1/messages`.
 */
export function withVersion(baseUrl: string, version: string, accepted: readonly string[] = [version]): string {
  const base = baseUrl.replace(/\/+$/, '');
  return accepted.some((v) => base.endsWith(`/${v}`)) ? base : `${base}/${version}`;
}
