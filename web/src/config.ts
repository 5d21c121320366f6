/** Where the API is and how to sign in: /config.json next to the client's files. The local stack
 * serves one for its local user; a deployment writes one for its user pool (see the README). */
export type AuthConfig =
  | { mode: "local" }
  | { mode: "oidc"; authority: string; clientId: string; scope?: string };

export interface ClientConfig {
  apiUrl: string;
  auth: AuthConfig;
}

export async function loadConfig(): Promise<ClientConfig> {
  const response = await fetch("/config.json", { cache: "no-store" });
  if (!response.ok) return { apiUrl: "", auth: { mode: "local" } };
  return (await response.json()) as ClientConfig;
}
