// What the page knows: conversations, messages and the page's own choices, and queries on them.
import { prettyContact } from "./dom.js";

export const DEFAULT_CONTACT = "+15550100001";

export const state = {
  api: "current",
  conversations: new Map(),
  messages: new Map(),
  log: [],
  faults: {},
  codes: [],
  current: null,        // key of the open conversation
  drafts: new Map(),    // contact conversations started on the page but not yet written to
  as: new Map(),        // group key -> participant the page writes as
  senders: [],          // the emulated organization's senders (several: the page picks one)
  to: new Map(),        // contact conversation key -> the sender the page writes to
  pending: [],          // uploaded attachments waiting for the next message
  replyTo: null,
  typingTimer: null,
};

export function conversationName(conversation) {
  if (conversation.kind === "group") {
    return conversation.name || conversation.participants.map(prettyContact).join(", ");
  }
  return prettyContact(conversation.key);
}

export function startDraft(contact) {
  if (!state.conversations.has(contact)) {
    state.drafts.set(contact, { key: contact, kind: "contact", name: null, participants: [contact], created: Date.now() / 1000, typing_until: 0 });
  }
  return contact;
}

export function messagesOf(key) {
  return [...state.messages.values()].filter((m) => m.conversation === key).sort((a, b) => a.created - b.created);
}

export function lastBubble(key) {
  const list = messagesOf(key).filter((m) => !m.reaction);
  return list[list.length - 1];
}

export function sortedConversations() {
  const all = [...state.conversations.values(), ...state.drafts.values()];
  const stamp = (c) => (lastBubble(c.key) || c).created;
  return all.sort((a, b) => stamp(b) - stamp(a));
}

export function preview(message) {
  if (!message) return "New conversation";
  if (message.text) return message.text;
  if (message.message_type === "audio" || message.media_url) return "🎙️ Voice message";
  if (message.message_type === "sticker") return "Sticker";
  if (message.attachments.length) return `📎 ${message.attachments.length} attachment${message.attachments.length > 1 ? "s" : ""}`;
  return "";
}

// The sender a one-to-one conversation writes to: the page's pick, else the one its last
// message went to, else the first.
export function chosenSender(key) {
  if (state.to.has(key)) return state.to.get(key);
  const last = messagesOf(key).filter((m) => m.direction === "inbound" && m.via).pop();
  return last ? last.via : state.senders[0];
}

export function currentConversation() {
  return state.conversations.get(state.current) || state.drafts.get(state.current);
}
