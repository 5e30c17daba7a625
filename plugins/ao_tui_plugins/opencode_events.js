// ao's OpenCode plugin, written by ao for one session (do not edit: ao rewrites it at each start).
// It appends the events that change what the agent is doing to ao's events file, one JSON line
// each in a single write, and nothing else: streamed deltas, busy ticks and repeats are left out.
// ao_tui/activity/opencode_events.py reads the lines. OUT and SESSION are filled in by ao.
import { appendFileSync } from "node:fs";

const OUT = __OUT__;
const SESSION = __SESSION__;
const LIMIT = 2000;
const roles = new Map(); // message id -> "user" | "assistant"
const tools = new Map(); // tool part id -> the status last written

function cut(text, limit = LIMIT) {
  return typeof text === "string" && text.length > limit ? text.slice(0, limit) + "…" : text;
}

function fields(input) {
  const out = {};
  for (const [key, value] of Object.entries(input ?? {})) {
    if (typeof value === "string") out[key] = cut(value, 300);
  }
  return out;
}

function write(event, properties) {
  try {
    const line = { ao_session: SESSION, at: Date.now() / 1000, event: "opencode:" + event, ...properties };
    appendFileSync(OUT, JSON.stringify(line) + "\n");
  } catch {
    // a full disk or a removed session directory must never disturb the agent
  }
}

function part(p) {
  const it = p.part ?? {};
  const where = { sessionID: it.sessionID, messageID: it.messageID };
  if (it.type === "text") {
    if (it.synthetic || it.ignored || (it.time && !it.time.end)) return; // written once, when finished
    write("text", { ...where, role: roles.get(it.messageID) ?? "", text: cut(it.text) });
  } else if (it.type === "tool") {
    const status = it.state?.status;
    if (status === "pending" || tools.get(it.id) === status) return;
    tools.set(it.id, status);
    write("tool", { ...where, tool: it.tool, callID: it.callID, status, input: fields(it.state?.input),
                    error: cut(it.state?.error ?? "", 300) });
  } else if (it.type === "step-start") {
    write("step", where);
  }
}

export const AoEvents = async () => {
  write("loaded", {});
  return {
    event: async ({ event }) => {
      const p = event.properties ?? {};
      switch (event.type) {
        case "session.created":
          return write("session", { sessionID: p.info?.id, parentID: p.info?.parentID ?? null });
        case "message.updated":
          if (p.info?.id && !roles.has(p.info.id)) roles.set(p.info.id, p.info.role);
          return;
        case "message.part.updated":
          return part(p);
        case "permission.asked":
          return write("permission", { sessionID: p.sessionID, id: p.id, callID: p.tool?.callID ?? null,
                                       permission: p.permission,
                                       patterns: (p.patterns ?? []).slice(0, 5).map((x) => cut(x, 300)),
                                       metadata: fields(p.metadata) });
        case "permission.replied":
          return write("permission.replied", { sessionID: p.sessionID, id: p.requestID, reply: p.reply });
        case "question.asked":
          return write("question", { sessionID: p.sessionID, id: p.id,
                                     question: cut(p.questions?.[0]?.question ?? "", 300) });
        case "question.replied":
        case "question.rejected":
          return write("question.replied", { sessionID: p.sessionID, id: p.requestID });
        case "session.status":
          if (p.status?.type !== "retry") return; // busy and idle: the parts and session.idle say more
          return write("retry", { sessionID: p.sessionID, attempt: p.status.attempt,
                                  message: cut(p.status.message ?? "", 500) });
        case "session.idle":
          return write("idle", { sessionID: p.sessionID });
        case "session.error":
          return write("error", { sessionID: p.sessionID, name: p.error?.name ?? "",
                                  message: cut(p.error?.data?.message ?? "", 500) });
      }
    },
  };
};
