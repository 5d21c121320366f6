import { UserManager, WebStorageStateStore } from "oidc-client-ts";
import type { AuthConfig } from "./config";

export const LOCAL_USER = "local-user";
const LOCAL_USER_KEY = "qai.localUser";
const LOCAL_TOKEN_KEY = "qai.localToken";

/** Who the client acts as: a local user name (sent as X-QAI-User), or a signed-in OIDC user. */
export interface Session {
  mode: "local" | "oidc";
  userName: string;
  headers(): Promise<Record<string, string>>;
  signOut?: () => Promise<void>;
}

export function localUser(): string {
  return localStorage.getItem(LOCAL_USER_KEY) || LOCAL_USER;
}

export function switchLocalUser(name: string): void {
  localStorage.setItem(LOCAL_USER_KEY, name.trim() || LOCAL_USER);
}

/** The local API's token: taken from the address the start command prints (…/#token=…) into this
 * browser's storage, and dropped from the address bar (and so from history and bookmarks). */
function localToken(): string | null {
  const given = /^#token=([A-Za-z0-9_-]+)$/.exec(window.location.hash);
  if (given) {
    localStorage.setItem(LOCAL_TOKEN_KEY, given[1]);
    window.history.replaceState(null, "", `${window.location.pathname}#/`);
  }
  return localStorage.getItem(LOCAL_TOKEN_KEY);
}

function localSession(): Session {
  const name = localUser();
  const token = localToken();
  const credentials: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  return { mode: "local", userName: name, headers: () => Promise.resolve({ ...credentials, "x-qai-user": name }) };
}

/** The authorization code flow with PKCE against the user pool (or the configured issuer). */
async function oidcSession(auth: Extract<AuthConfig, { mode: "oidc" }>): Promise<Session | null> {
  const manager = new UserManager({
    authority: auth.authority,
    client_id: auth.clientId,
    redirect_uri: `${window.location.origin}/`,
    post_logout_redirect_uri: `${window.location.origin}/`,
    response_type: "code",
    scope: auth.scope ?? "openid email",
    userStore: new WebStorageStateStore({ store: window.sessionStorage }),
  });
  const query = new URLSearchParams(window.location.search);
  if (query.has("code") && query.has("state")) {
    await manager.signinRedirectCallback();
    window.history.replaceState(null, "", window.location.pathname + window.location.hash);
  }
  const user = await manager.getUser();
  if (!user || user.expired) {
    await manager.signinRedirect();
    return null;
  }
  return {
    mode: "oidc",
    userName: user.profile.email ?? user.profile.sub,
    headers: async (): Promise<Record<string, string>> => {
      const current = await manager.getUser();
      return current ? { authorization: `Bearer ${current.access_token}` } : {};
    },
    signOut: async () => {
      try {
        await manager.signoutRedirect();
      } catch {
        // An issuer without an end-session endpoint (Cognito's discovery has none): forget the tokens here.
        await manager.removeUser();
        window.location.reload();
      }
    },
  };
}

export async function startSession(auth: AuthConfig): Promise<Session | null> {
  return auth.mode === "oidc" ? oidcSession(auth) : localSession();
}
