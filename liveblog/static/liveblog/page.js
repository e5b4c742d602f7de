// A liveblog for anyone: the posts the server rendered, then liveblog:<slug> from the
// position the server read before them. Every post once, newest first, edits in place.
import {connect} from "../realtime/coucou.js";

const article = document.getElementById("liveblog");
const channel = article.dataset.channel;
const list = document.getElementById("posts");
const posts = new Map(); // id -> {id, author, body, created, updated}

function newer(a, b) {
  // Newest first: by creation time, then by id (two posts in one millisecond).
  const [ta, tb] = [Date.parse(a.created), Date.parse(b.created)];
  return ta === tb ? a.id > b.id : ta > tb;
}

function fill(li, post) {
  li.dataset.id = post.id;
  li.dataset.created = post.created;
  li.dataset.updated = post.updated;
  const time = li.querySelector(".post-time");
  time.dateTime = post.created;
  time.textContent = new Date(post.created).toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"});
  const author = li.querySelector(".post-author");
  if (author) author.textContent = post.author?.username ?? "";
  li.querySelector(".post-body").textContent = post.body;
}

function upsert(post, {fresh = true} = {}) {
  const known = posts.get(post.id);
  if (known && Date.parse(known.updated) > Date.parse(post.updated)) return; // an older copy of an edit we have
  posts.set(post.id, post);
  let li = list.querySelector(`li[data-id="${post.id}"]`);
  if (!li) {
    li = document.getElementById("post-row").content.firstElementChild.cloneNode(true);
    const before = [...list.children].find((other) => newer(post, posts.get(Number(other.dataset.id))));
    list.insertBefore(li, before ?? null);
    if (fresh) li.classList.add("fresh");
  }
  fill(li, post);
  document.getElementById("no-posts").hidden = true;
}

function remove(id) {
  posts.delete(id);
  list.querySelector(`li[data-id="${id}"]`)?.remove();
  document.getElementById("no-posts").hidden = posts.size > 0;
}

// The server rendered these; keep them, with their times shown in the reader's own zone.
for (const post of JSON.parse(document.getElementById("liveblog-posts").textContent)) {
  posts.set(post.id, post);
  const li = list.querySelector(`li[data-id="${post.id}"]`);
  if (li) fill(li, post);
}

// After a resync the channel cannot say what we missed: the database can.
let reloading = null;
function reload() {
  reloading ??= (async () => {
    try {
      const response = await fetch(article.dataset.postsUrl, {credentials: "same-origin"});
      if (!response.ok) return;
      const {posts: fresh} = await response.json();
      const ids = new Set(fresh.map((post) => post.id));
      for (const id of [...posts.keys()]) if (!ids.has(id)) remove(id);
      for (const post of fresh.slice().reverse()) upsert(post, {fresh: false});
    } finally {
      reloading = null;
    }
  })();
  return reloading;
}

// --- the socket ---------------------------------------------------------------------------
const resume = JSON.parse(document.getElementById("liveblog-resume").textContent);
const connection = connect();
const indicator = document.getElementById("connection");
const STATE_TEXT = {connecting: "Connecting…", open: "Live", reconnecting: "Reconnecting…", closed: "Disconnected"};
connection.on("state", (state) => {
  indicator.dataset.state = state;
  indicator.querySelector(".connection-text").textContent = STATE_TEXT[state] ?? state;
});

const options = resume.epoch ? {after: resume.after, epoch: resume.epoch} : {after: resume.after};
const handle = connection.subscribe(channel, options);
handle.on("liveblog.post", (event) => upsert(event.data));
handle.on("liveblog.post.deleted", (event) => remove(event.data.id));
handle.on("resync", () => reload().catch(() => {}));

// For the browser tests: the page's state as the reader sees it.
window.liveblog = {connection, handle, posts};
