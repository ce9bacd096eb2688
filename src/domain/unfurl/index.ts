// Link previews (issue 16): fetchPreview() for the unfurl worker; parsing is separate so it can
// be tested without a network.
export { fetchPreview, fetchPreviewImage, HostLimiter, USER_AGENT, type FetchPreviewOptions } from './fetch.js';
export { decodeBody, decodeEntities, detectCharset, parsePreview, PREVIEW_LIMITS, resolveHttpUrl, type LinkPreview } from './parse.js';
