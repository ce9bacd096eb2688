// The ordered list of migrations. Imported statically so they run the same from TypeScript
// (tsx, tests) and from the compiled build, without knex scanning a folder at run time.
import * as init from './20261129000001_init.js';
import * as messagesOutbox from './20261129000040_messages_outbox.js';
import * as messagesTsvPlainText from './20261129000070_messages_tsv_plain_text.js';
import * as messagesChatCreatedAt from './20261129000080_messages_chat_created_at.js';
import * as searchLexemes from './20261129000090_search_lexemes.js';
import * as eventOutbox from './20261203000100_event_outbox.js';
import * as searchLexemesPerWorkspace from './20261203000130_search_lexemes_per_workspace.js';
import * as mentionsNotifications from './20261203000200_mentions_notifications.js';
import * as richConversations from './20261204000100_rich_conversations.js';
import * as renderMarkdown from './20261204000200_render_markdown.js';
import * as clientIdPerSender from './20261205001000_client_id_per_sender.js';
import * as mentionFeedTimeOrder from './20261205001100_mention_feed_time_order.js';

export const migrations = {
  '20261129000001_init': init,
  '20261129000040_messages_outbox': messagesOutbox,
  '20261129000070_messages_tsv_plain_text': messagesTsvPlainText,
  '20261129000080_messages_chat_created_at': messagesChatCreatedAt,
  '20261129000090_search_lexemes': searchLexemes,
  '20261203000100_event_outbox': eventOutbox,
  '20261203000130_search_lexemes_per_workspace': searchLexemesPerWorkspace,
  '20261203000200_mentions_notifications': mentionsNotifications,
  '20261204000100_rich_conversations': richConversations,
  '20261204000200_render_markdown': renderMarkdown,
  '20261205001000_client_id_per_sender': clientIdPerSender,
  '20261205001100_mention_feed_time_order': mentionFeedTimeOrder,
} as const;
