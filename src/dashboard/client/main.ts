/// <reference lib="dom" />
/**
 * The dashboard's browser script (bundled into the binary by src/dashboard/bundle.ts).
 *
 * Flow: sign in with the admin key (or, on a gateway without one, straight in), then every ~2 s
 * read GET /metrics and GET /v1/audit/checkpoint and redraw. A 401 while polling (the key was
 * changed on the server) returns to the sign-in form with the reason.
 */
import { ApiError, get, session } from "./api";
import { parseCheckpointNote } from "./checkpoint";
import { byId, setText } from "./dom";
import { parseExposition } from "./exposition";
import { renderCheckpoint, renderLive } from "./live-view";
import { summarize } from "./live";
import { setUpProofPanel } from "./proof-view";
import { ScrapeWindow } from "./window";

const REFRESH_MS = 2000;
const WINDOW_MS = 10_000;

/** "on" when the gateway has a master key (src/dashboard/index.ts fills the meta tag in). */
const adminEnabled = document.querySelector<HTMLMetaElement>('meta[name="warden-admin"]')?.content !== "off";
const scrapes = new ScrapeWindow(WINDOW_MS);
let timer: ReturnType<typeof setTimeout> | undefined;
/** Bumped on every sign-in and sign-out, so a poll in flight for an old session draws nothing. */
let generation = 0;

const currentKey = () => (adminEnabled ? session.key() : undefined);

function showLogin(error?: string): void {
  stopPolling();
  byId("dashboard").hidden = true;
  byId("logout").hidden = true;
  byId("login").hidden = false;
  const el = byId("login-error");
  el.hidden = error === undefined;
  el.textContent = error ?? "";
  setText("status", "");
  byId<HTMLInputElement>("login-key").focus();
}

function showDashboard(): void {
  byId("login").hidden = true;
  byId("dashboard").hidden = false;
  byId("logout").hidden = !adminEnabled;
  startPolling();
}

async function signIn(key: string): Promise<void> {
  try {
    await get("/dashboard/session", key); // 204 for the master key only
  } catch (e) {
    const message =
      e instanceof ApiError && e.unauthorized ? `The gateway refused this key: ${e.message}` : `Could not reach the gateway: ${(e as Error).message}`;
    return showLogin(message);
  }
  session.save(key);
  byId<HTMLInputElement>("login-key").value = "";
  showDashboard();
}

function startPolling(): void {
  stopPolling();
  scrapes.clear();
  const mine = ++generation;
  const tick = async () => {
    await refresh(mine);
    if (mine === generation) timer = setTimeout(tick, REFRESH_MS);
  };
  void tick();
}

function stopPolling(): void {
  generation++;
  if (timer !== undefined) clearTimeout(timer);
  timer = undefined;
}

async function refresh(mine: number): Promise<void> {
  const key = currentKey();
  try {
    const [metrics, checkpoint] = await Promise.all([get("/metrics", key).then((r) => r.text()), readCheckpoint(key)]);
    if (mine !== generation) return;
    scrapes.add(Date.now(), parseExposition(metrics));
    renderLive(summarize(scrapes)!);
    if (typeof checkpoint === "string") renderCheckpoint(undefined, checkpoint);
    else renderCheckpoint(checkpoint);
    const status = byId("status");
    status.className = "status";
    status.textContent = `live · updated ${new Date().toLocaleTimeString()}`;
  } catch (e) {
    if (mine !== generation) return;
    if (e instanceof ApiError && e.unauthorized && adminEnabled) {
      session.clear();
      return showLogin(`Signed out: the gateway no longer accepts the key (${e.message}).`);
    }
    const status = byId("status");
    status.className = "status error";
    status.textContent = `update failed: ${(e as Error).message}`;
  }
}

/** The parsed checkpoint, or a sentence saying why there is none yet. */
async function readCheckpoint(key: string | undefined) {
  try {
    return parseCheckpointNote(await (await get("/v1/audit/checkpoint", key)).text());
  } catch (e) {
    if (e instanceof ApiError && e.unauthorized) throw e;
    return e instanceof ApiError && e.status === 404 ? "No checkpoint has been signed yet." : `No checkpoint: ${(e as Error).message}`;
  }
}

function start(): void {
  setText("window-span", String(WINDOW_MS / 1000));
  setUpProofPanel(currentKey);
  byId<HTMLFormElement>("login-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const key = byId<HTMLInputElement>("login-key").value.trim();
    if (key !== "") void signIn(key);
  });
  byId("logout").addEventListener("click", () => {
    session.clear();
    showLogin();
  });
  if (!adminEnabled) {
    byId("dev-banner").hidden = false;
    return showDashboard();
  }
  const saved = session.key();
  if (saved === undefined) showLogin();
  else void signIn(saved);
}

start();
