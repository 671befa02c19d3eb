// The developer panel: every API call and webhook attempt, and the fault switches.
import { $, call, clock, h, showError } from "./dom.js";
import { state } from "./state.js";

export function renderLog() {
  $("log").replaceChildren(...[...state.log].reverse().map(logItem));
}

export function renderLogEntry(entry) {
  $("log").prepend(logItem(entry));
  while ($("log").children.length > 1000) $("log").lastElementChild.remove();
}

function logItem(entry) {
  const status = entry.status === null || entry.status === undefined ? "—" : entry.status;
  const tone = entry.ok ? "" : entry.status === null || entry.status === undefined ? "none" : entry.status >= 500 ? "bad" : "warn";
  const meta = [];
  if (entry.attempt) meta.push(`attempt ${entry.attempt}`);
  if (entry.webhook_id) meta.push(`webhook_id ${entry.webhook_id.slice(0, 8)}…`);
  if (entry.code) meta.push(`code ${entry.code}`);
  if (entry.duration_ms !== null && entry.duration_ms !== undefined) meta.push(`${entry.duration_ms} ms`);
  return h("li", { "data-direction": entry.direction, "data-status": status },
    h("span", { class: `pill ${tone}` }, status),
    h("div", { class: "dir" }, entry.direction === "api" ? "bot → API" : "webhook → bot", h("span", { class: "when" }, clock(entry.at))),
    h("div", { class: "title" }, entry.title),
    entry.detail ? h("div", { class: "detail" }, entry.detail) : null,
    meta.length ? h("div", { class: "meta" }, meta.join(" · ")) : null);
}

export function renderFaultOptions() {
  const select = $("fault-send");
  select.replaceChildren(
    h("option", { value: "" }, "— nothing, it succeeds —"),
    h("option", { value: "http500" }, "HTTP 500 (server error)"),
    h("option", { value: "timeout" }, "No answer (timeout)"),
    ...state.codes.map((c) => h("option", { value: String(c.code) }, `${c.code} · ${c.meaning}`)));
}

export function renderFaults() {
  const faults = state.faults || {};
  $("fault-send").value = faults.fail_next_send === null || faults.fail_next_send === undefined ? "" : String(faults.fail_next_send);
  $("fault-delivery").checked = !!faults.fail_next_delivery;
  $("fault-duplicate").checked = !!faults.duplicate_next_webhook;
  $("fault-delay").value = faults.webhook_delay || 0;
  const armed = [];
  if (faults.fail_next_send !== null && faults.fail_next_send !== undefined) armed.push(`next send → ${faults.fail_next_send}`);
  if (faults.fail_next_delivery) armed.push("next delivery fails");
  if (faults.duplicate_next_webhook) armed.push("next webhook twice");
  if (faults.webhook_delay) armed.push(`webhooks +${faults.webhook_delay} s`);
  $("faults-state").textContent = armed.length ? `Armed: ${armed.join(", ")}` : "No faults armed.";
}

export async function onFaults(event) {
  event.preventDefault();
  const send = $("fault-send").value;
  try {
    await call("POST", "/emulator/faults", {
      fail_next_send: send === "" ? null : send,
      fail_next_delivery: $("fault-delivery").checked,
      duplicate_next_webhook: $("fault-duplicate").checked,
      webhook_delay: Number($("fault-delay").value) || 0,
    });
    showError("");
  } catch (error) {
    showError(error.message);
  }
}

export function showTab(tab) {
  document.querySelectorAll(".debug-head .segmented button").forEach((b) => b.classList.toggle("active", b.dataset.tab === tab));
  document.querySelectorAll("[data-panel]").forEach((panel) => { panel.hidden = panel.dataset.panel !== tab; });
}
