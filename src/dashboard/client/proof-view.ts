/// <reference lib="dom" />
/**
 * The proof lookup panel: fetch record n, the latest checkpoint and the inclusion proof of n in
 * that checkpoint's tree, then check it here (inclusion.ts). The values checked are shown in
 * editable fields, so a user can paste another proof or tamper with the record and watch the
 * check fail.
 *
 * @example
 * setUpProofPanel(() => session.key());
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { get } from "./api";
import { fromBase64, toBase64, toHex } from "./bytes";
import { parseCheckpointNote, verifyCheckpointSignature, type CheckpointNote } from "./checkpoint";
import { byId, setText } from "./dom";
import { checkInclusion, flipOneByte, parseProofText, type InclusionInput } from "./inclusion";

interface Fetched {
  input: InclusionInput;
  checkpoint: CheckpointNote;
  serverLeafHash: string;
}

const utf8 = new TextEncoder();
const VERIFIER_KEY_STORAGE = "warden.verifierKey";
let fetched: Fetched | undefined;

/** Wires the panel's forms and buttons; `key` gives the current admin key (undefined in dev mode). */
export function setUpProofPanel(key: () => string | undefined): void {
  byId<HTMLFormElement>("lookup-form").addEventListener("submit", (e) => {
    e.preventDefault();
    void lookUp(byId<HTMLInputElement>("lookup-seq").value, key());
  });
  byId("proof-verify").addEventListener("click", () => verifyFields());
  byId("proof-tamper").addEventListener("click", () => tamper());
  byId("proof-reset").addEventListener("click", () => {
    if (fetched === undefined) return;
    fill(fetched.input);
    verifyFields();
  });
  const verifierKey = byId<HTMLInputElement>("verifier-key");
  verifierKey.value = localStorage.getItem(VERIFIER_KEY_STORAGE) ?? "";
  byId<HTMLFormElement>("signature-form").addEventListener("submit", (e) => {
    e.preventDefault();
    localStorage.setItem(VERIFIER_KEY_STORAGE, verifierKey.value.trim()); // public, not a secret
    void checkSignature(key());
  });
}

async function lookUp(seqText: string, key: string | undefined): Promise<void> {
  if (!/^\d{1,15}$/.test(seqText.trim())) return showPending("Enter a record sequence number (0, 1, 2, …).");
  const seq = Number(seqText.trim());
  showPending(`Fetching record ${seq}…`);
  byId("proof-json").hidden = true;
  byId("proof-json-caption").hidden = true;
  try {
    const checkpoint = parseCheckpointNote(await (await get("/v1/audit/checkpoint", key)).text());
    const record = new Uint8Array(await (await get(`/v1/audit/records/${seq}`, key)).arrayBuffer());
    if (seq >= checkpoint.size) {
      return showPending(`Record ${seq} is in the ledger but not yet covered by a signed checkpoint (the latest covers ${checkpoint.size} records). Try again in a moment.`);
    }
    const proof = (await (await get(`/v1/audit/proof/inclusion?seq=${seq}&size=${checkpoint.size}`, key)).json()) as { leaf_hash: string; proof: string[] };
    const input: InclusionInput = { record, index: seq, size: checkpoint.size, proof: parseProofText(proof.proof.join("\n")), root: checkpoint.root };
    fetched = { input, checkpoint, serverLeafHash: proof.leaf_hash };
    fill(input);
    setText("proof-leaf-hash-server", proof.leaf_hash);
    showRecord(seq, record);
    show(input, `record ${seq} is leaf ${seq} of the ${checkpoint.size}-record tree signed in checkpoint “${checkpoint.origin}”.`);
  } catch (e) {
    fetched = undefined;
    showFailure(`Could not check record ${seq}`, (e as Error).message);
  }
}

/** Puts checked values into the editable fields. */
function fill(input: InclusionInput): void {
  byId<HTMLTextAreaElement>("proof-record").value = new TextDecoder().decode(input.record);
  byId<HTMLInputElement>("proof-index").value = String(input.index);
  byId<HTMLInputElement>("proof-size").value = String(input.size);
  byId<HTMLInputElement>("proof-root").value = toBase64(input.root);
  byId<HTMLTextAreaElement>("proof-hashes").value = input.proof.map(toHex).join("\n");
}

/** The values in the fields, or why they cannot be read. */
function readFields(): InclusionInput {
  const whole = (id: string) => {
    const v = byId<HTMLInputElement>(id).value.trim();
    if (!/^\d{1,15}$/.test(v)) throw new Error(`${id.replace("proof-", "")} must be a whole number`);
    return Number(v);
  };
  return {
    record: utf8.encode(byId<HTMLTextAreaElement>("proof-record").value),
    index: whole("proof-index"),
    size: whole("proof-size"),
    root: fromBase64(byId<HTMLInputElement>("proof-root").value),
    proof: parseProofText(byId<HTMLTextAreaElement>("proof-hashes").value),
  };
}

function verifyFields(): void {
  let input: InclusionInput;
  try {
    input = readFields();
  } catch (e) {
    return showFailure("NOT verified", `the values cannot be read: ${(e as Error).message}`);
  }
  show(input, `the record in the fields is leaf ${input.index} of the ${input.size}-record tree with that root.`);
}

function tamper(): void {
  const field = byId<HTMLTextAreaElement>("proof-record");
  const { bytes, at } = flipOneByte(utf8.encode(field.value));
  if (at < 0) return;
  field.value = new TextDecoder().decode(bytes);
  verifyFields();
  const before = String.fromCharCode(bytes[at]! ^ 0x01);
  const after = String.fromCharCode(bytes[at]!);
  byId("proof-result").append(why(`Tampered: byte ${at} of the record changed from “${before}” to “${after}”.`));
}

/** Checks `input` and shows the verdict, with the hashes computed along the way. */
function show(input: InclusionInput, success: string): void {
  const r = checkInclusion(sha256, input);
  setText("proof-leaf-hash", toHex(r.leafHash));
  setText("proof-computed-root", r.computedRoot ? `${toBase64(r.computedRoot)}  (${toHex(r.computedRoot)})` : "—");
  if (r.verified) showVerdict(true, "Verified", success);
  else showVerdict(false, "NOT verified", r.reason ?? "");
}

function showRecord(seq: number, record: Uint8Array): void {
  const caption = byId("proof-json-caption");
  caption.textContent = `Record ${seq} as the gateway served it (${record.length} bytes):`;
  caption.hidden = false;
  const pre = byId("proof-json");
  const text = new TextDecoder().decode(record);
  try {
    pre.textContent = JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    pre.textContent = text;
  }
  pre.hidden = false;
}

function showVerdict(ok: boolean, title: string, detail: string): void {
  const el = byId("proof-result");
  el.hidden = false;
  el.className = `result ${ok ? "ok" : "bad"}`;
  el.dataset.verified = String(ok);
  el.replaceChildren(`${ok ? "✔" : "✘"} ${title}`, why(detail));
}

function showFailure(title: string, detail: string): void {
  showVerdict(false, title, detail);
}

function showPending(message: string): void {
  const el = byId("proof-result");
  el.hidden = false;
  el.className = "result pending";
  el.dataset.verified = "pending";
  el.replaceChildren(message);
}

function why(text: string): HTMLElement {
  const span = document.createElement("span");
  span.className = "why";
  span.textContent = text;
  return span;
}

/** The checkpoint checked: the one the last lookup used, else the latest. */
async function checkSignature(key: string | undefined): Promise<void> {
  const el = byId("signature-result");
  el.hidden = false;
  try {
    const cp = fetched?.checkpoint ?? parseCheckpointNote(await (await get("/v1/audit/checkpoint", key)).text());
    const ok = await verifyCheckpointSignature(sha256, cp, byId<HTMLInputElement>("verifier-key").value);
    el.className = `result ${ok ? "ok" : "bad"}`;
    el.dataset.verified = String(ok);
    el.replaceChildren(ok ? `✔ Signature valid: checkpoint of ${cp.size} records, “${cp.origin}”` : "✘ NOT signed by this key");
  } catch (e) {
    el.className = "result bad";
    el.dataset.verified = "false";
    el.replaceChildren(`✘ Cannot check the signature: ${(e as Error).message}`);
  }
}
