/**
 * coucou.js — the browser client of Coucou's event socket (/ws/events/). No dependency, no
 * build step: ES modules, this file and the coucou/ folder beside it.
 *
 *   import {connect} from "/static/realtime/coucou.js";
 *   const c = connect();                        // same origin: the session cookie
 *   c.on("state", (state) => ...);              // connecting | open | reconnecting | closed | unauthenticated
 *   c.on("job.progress", (event) => ...);       // any event type of your own stream, or "*" for every event
 *   const job = c.job(id);
 *   job.onProgress(({percent, message}) => ...);
 *   job.onState((snapshot) => ...);             // status changes: queued, running, succeeded, ...
 *   const final = await job.done;               // rejects with a JobError if it failed or was cancelled
 *   job.onOutput("text", ({text}) => ...);      // its output stream (ctx.stream("text")): whole, in order, once
 *
 *   const room = c.subscribe("chat:lobby", {after: 0});   // a named channel, from its history
 *   room.on("chat.message", (event) => ...);
 *   room.on("resync", () => ...);               // events are gone: refetch what you show
 *   const users = await room.presence();
 *   room.close();
 *   c.close();
 *
 * What it guarantees, for your own stream and for each channel: every event once, in seq
 * order, or a "resync" that tells you to refetch. Where to read on:
 *   coucou/connection.js  the socket: reconnects, resumes, routes frames (Connection)
 *   coucou/sequence.js    the rule for one numbered stream: duplicates, holes, epochs
 *   coucou/jobs.js        job handles kept current by events and REST (JobHandle, JobError)
 *   coucou/channels.js    named channels: subscribe, resume, presence, kick (Subscription)
 *   coucou/output.js      a job's streamed output: live frames, holes filled over REST
 *   coucou/element.js     the <coucou-progress> and <coucou-output> elements
 *
 * Another origin: connect({url: "wss://coucou.example/ws/events/", ticket: async () => "...",
 * fetch: (path) => ...}). `ticket` is called before every connection attempt, since a ticket
 * works once; your backend gets one from POST /api/realtime/ticket with its bearer token.
 * Copy the coucou/ folder along with this file.
 */
import {CLOSE_FLOOD, CLOSE_SLOW_READER, CLOSE_UNAUTHENTICATED, Connection} from "./coucou/connection.js";
import {PresenceError, Subscription} from "./coucou/channels.js";
import {CoucouOutput, CoucouProgress, adopt} from "./coucou/element.js";
import {JobError, JobHandle, STATUS_OF} from "./coucou/jobs.js";

/**
 * Open a Connection. The first one (or the first after it was closed) feeds <coucou-progress>.
 * @param {import("./coucou/connection.js").ConnectOptions} [options]
 * @returns {Connection}
 */
export function connect(options = {}) {
  const connection = new Connection(options);
  adopt(connection);
  return connection;
}

export {
  CLOSE_FLOOD,
  CLOSE_SLOW_READER,
  CLOSE_UNAUTHENTICATED,
  Connection,
  CoucouOutput,
  CoucouProgress,
  JobError,
  JobHandle,
  PresenceError,
  STATUS_OF,
  Subscription,
};

export default {connect, Connection, JobHandle, JobError, CoucouOutput, CoucouProgress, Subscription, PresenceError};
