// Pure HTML rendering for the public QR pages. Everything that comes from a
// synced document is untrusted: it is escaped where it enters HTML, and colours
// and URLs pass an allow-list before they reach CSS or attributes. The pages are
// served under a CSP without scripts, so nothing here emits JavaScript.

const DEFAULT_COLORS = {
  primary: "#1b2a4a",
  secondary: "#c9a227",
  background: "#f4f1ea",
  surface: "#ffffff",
  card: "#ffffff",
  button: "#1b2a4a",
  button_text: "#ffffff",
  badge: "#c9a227",
  badge_text: "#1b2a4a",
  price: "#1b2a4a",
  product_name: "#1b2a4a",
  label: "#6b7280",
};

const CURRENCY_SYMBOLS = { EGP: "ج.م", SAR: "ر.س", USD: "$", EUR: "€" };

// Legacy documents carry the raw unit key instead of the Arabic label.
const UNIT_LABELS = {
  meter: "متر",
  metre: "متر",
  piece: "قطعة",
  roll: "رول",
  yard: "ياردة",
  kg: "كيلوجرام",
  kilogram: "كيلوجرام",
  set: "طقم",
  pair: "زوج",
  dozen: "دستة",
};

const HTML_ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

const COLOR_PATTERNS = [
  /^#(?:[0-9a-f]{3}|[0-9a-f]{6}|[0-9a-f]{8})$/i,
  /^(?:rgba?|hsla?)\([0-9 ,.%]+\)$/i,
  /^[a-z]{3,20}$/i,
];

// Base64 only, so the payload can hold no quote, paren or markup character.
const DATA_IMAGE = /^data:image\/(?:png|jpeg|gif|webp|svg\+xml);base64,[A-Za-z0-9+/]*={0,2}$/i;
const PHONE = /^\+?[0-9 ()-]{3,20}$/;
const EMAIL = /^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$/;
const DECIMAL = /^-?(?:\d+(?:\.\d*)?|\.\d+)$/;

const PRICE_FORMAT = new Intl.NumberFormat("en-US", { maximumFractionDigits: 2 });

// Stored documents are arbitrary JSON: only scalars are shown, so an object such as
// {"toString": 1} can never throw while a page renders.
function scalarText(value) {
  return typeof value === "string" || typeof value === "number" || typeof value === "boolean" ? String(value) : "";
}

export function escapeHtml(value) {
  return scalarText(value).replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]);
}

export function safeColor(value, fallback) {
  if (typeof value !== "string") return fallback;
  const v = value.trim();
  return COLOR_PATTERNS.some((p) => p.test(v)) ? v : fallback;
}

export function safeUrl(value) {
  if (typeof value !== "string") return "";
  const v = value.trim();
  if (/^data:/i.test(v)) {
    // Python's base64.encodebytes wraps lines; browsers ignore that whitespace.
    const compact = v.replace(/\s+/g, "");
    return DATA_IMAGE.test(compact) ? compact : "";
  }
  let url;
  try {
    url = new URL(v);
  } catch {
    return "";
  }
  // href is the serialised form: quotes, spaces and angle brackets come back percent-encoded.
  return url.protocol === "http:" || url.protocol === "https:" ? url.href : "";
}

function toNumber(value) {
  if (typeof value === "number") return Number.isFinite(value) ? value : NaN;
  if (typeof value === "string" && DECIMAL.test(value.trim())) return Number(value.trim());
  return NaN;
}

export function formatPrice(value) {
  const n = toNumber(value);
  return Number.isNaN(n) ? "" : PRICE_FORMAT.format(n);
}

export function priceBeforeDiscount(value) {
  const n = toNumber(value);
  if (Number.isNaN(n) || n <= 0) return null;
  const factor = n <= 400 ? 1.35 : n <= 600 ? 1.3 : n <= 800 ? 1.25 : 1.2;
  return Math.round(n * factor);
}

export function currencySymbol(code) {
  const c = scalarText(code).trim();
  return CURRENCY_SYMBOLS[c.toUpperCase()] ?? c;
}

// ---------------------------------------------------------------- helpers

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const text = (v) => scalarText(v).trim();

function linkUrl(value) {
  const u = safeUrl(value);
  return /^https?:/.test(u) ? u : "";
}

// The CSP only admits https: and data: images, so an http: image would just be a broken icon.
function imageUrl(value) {
  // Design images stored by the Worker itself are served from this origin under their hash.
  if (typeof value === "string" && /^\/assets\/[0-9a-f]{64}$/.test(value)) return value;
  const u = safeUrl(value);
  return u.startsWith("http:") ? "" : u;
}

// Percent-encoding is meaning-preserving in a URL and leaves nothing that can
// close the CSS string, the url() or the <style> element.
function cssUrl(url) {
  return url.replace(/["'()\\<>\s]/g, (c) => "%" + c.charCodeAt(0).toString(16).padStart(2, "0").toUpperCase());
}

function phoneDigits(value) {
  const v = text(value);
  if (!PHONE.test(v)) return "";
  return (v.match(/\d/g) || []).length >= 3 ? v.replace(/[^\d+]/g, "") : "";
}

function whatsappUrl(value) {
  const digits = phoneDigits(value).replace(/\D/g, "");
  if (digits) return `https://wa.me/${digits}`;
  const u = safeUrl(text(value));
  return u.startsWith("https:") ? u : "";
}

function unitLabel(unit) {
  const u = text(unit);
  return UNIT_LABELS[u.toLowerCase()] ?? u;
}

function multiline(value) {
  return escapeHtml(text(value)).replace(/\r\n|\r|\n/g, "<br>");
}

function memberHref(code) {
  const c = text(code);
  if (!c) return "";
  try {
    return "/" + encodeURIComponent(c);
  } catch {
    return ""; // lone surrogate: no URL can address it
  }
}

function priceHtml(price, currency) {
  const formatted = formatPrice(price);
  if (!formatted) return "";
  const symbol = currencySymbol(currency);
  return `<bdi>${escapeHtml(formatted)}</bdi>${symbol ? ` <span class="cur">${escapeHtml(symbol)}</span>` : ""}`;
}

function priceBlock(price, currency) {
  const current = priceHtml(price, currency);
  if (!current) return "";
  const before = priceBeforeDiscount(price);
  const beforeHtml =
    before === null
      ? ""
      : `<p class="before"><span class="label">السعر قبل الخصم</span> <s>${priceHtml(before, currency)}</s></p>`;
  return `<div class="prices"><p class="price">${current}</p>${beforeHtml}</div>`;
}

function details(pairs) {
  const rows = pairs
    .filter(([, value]) => text(value))
    .map(([label, value]) => `<div><dt>${label}</dt><dd>${escapeHtml(text(value))}</dd></div>`)
    .join("");
  return rows ? `<dl class="details">${rows}</dl>` : "";
}

function variantsHtml(variants, currency) {
  if (!Array.isArray(variants)) return "";
  const items = variants.filter(isObject).map((v) => {
    const swatch = safeColor(v.color_hex, "transparent");
    const off = v.is_available === false;
    const price = priceHtml(v.price, currency);
    return `<li class="variant${off ? " off" : ""}">` +
      `<span class="swatch" style="background:${escapeHtml(swatch)}"></span>` +
      `<span class="vname">${escapeHtml(text(v.color_name) || text(v.code))}</span>` +
      (price ? `<span class="vprice">${price}</span>` : "") +
      (off ? `<span class="na">غير متوفر</span>` : "") +
      `</li>`;
  });
  return items.length ? `<section class="variants"><h2>الألوان المتاحة</h2><ul>${items.join("")}</ul></section>` : "";
}

function palette(colors) {
  const src = isObject(colors) ? colors : {};
  const out = {};
  for (const [key, fallback] of Object.entries(DEFAULT_COLORS)) out[key] = safeColor(src[key], fallback);
  return out;
}

function logoSize(value) {
  const n = toNumber(value);
  if (!Number.isFinite(n)) return 200;
  return Math.round(Math.min(400, Math.max(40, n)));
}

function styles(c, background, size) {
  const bg = background ? ` url("${cssUrl(background)}") center / cover no-repeat` : "";
  return `
:root{--primary:${c.primary};--secondary:${c.secondary};--bg:${c.background};--surface:${c.surface};--card:${c.card};--button:${c.button};--button-text:${c.button_text};--badge:${c.badge};--badge-text:${c.badge_text};--price:${c.price};--name:${c.product_name};--label:${c.label}}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;min-height:100vh;background:var(--bg)${bg};color:var(--name);font-family:"Segoe UI",Tahoma,"Noto Naskh Arabic","Noto Sans Arabic",Arial,sans-serif;line-height:1.6}
.wrap{max-width:480px;margin:0 auto;padding:16px}
header.site{text-align:center;padding:20px 16px 8px}
.logo{width:${size}px;max-width:80%;height:auto}
.site-name{margin:8px 0 0;font-size:1.1rem;font-weight:700;color:var(--primary)}
.card{display:block;background:var(--card);border-radius:16px;padding:20px;margin:0 0 16px;box-shadow:0 4px 18px rgba(0,0,0,.08);border-top:4px solid var(--secondary);color:inherit;text-decoration:none}
a.card:active{transform:scale(.99)}
.badge{display:inline-block;background:var(--badge);color:var(--badge-text);border-radius:999px;padding:2px 12px;font-size:.85rem;font-weight:700;margin-bottom:8px}
h1,h2{margin:0}
.name{color:var(--name);font-size:1.5rem;line-height:1.35}
.member .name{font-size:1.2rem}
.set-title{color:var(--primary);font-size:1.5rem;text-align:center;margin:4px 0}
.count{color:var(--label);text-align:center;margin:0 0 16px}
.code{color:var(--label);margin:4px 0 12px;font-size:.95rem}
.prices{background:var(--surface);border-radius:12px;padding:12px 14px;margin:8px 0}
.price{margin:0;color:var(--price);font-size:1.9rem;font-weight:800}
.member .price{font-size:1.4rem}
.cur{font-size:1rem;font-weight:700}
.before{margin:2px 0 0;color:var(--label);font-size:.95rem}
.before s{color:var(--label)}
.label,dt{color:var(--label)}
.details{margin:12px 0 0;display:grid;gap:6px}
.details div{display:flex;justify-content:space-between;gap:12px;border-bottom:1px dashed rgba(0,0,0,.1);padding-bottom:4px}
dd{margin:0;font-weight:600;text-align:left}
.desc{margin:14px 0 0;white-space:normal}
.variants h2{font-size:1.05rem;margin:18px 0 8px;color:var(--primary)}
.variants ul{list-style:none;margin:0;padding:0;display:grid;gap:8px}
.variant{display:flex;align-items:center;gap:10px;background:var(--surface);border-radius:10px;padding:8px 10px}
.swatch{width:26px;height:26px;border-radius:50%;border:1px solid rgba(0,0,0,.2);flex:none}
.vname{flex:1;font-weight:600}
.vprice{color:var(--price);font-weight:700}
.variant.off{opacity:.6}
.na{background:#b91c1c;color:#fff;border-radius:6px;padding:0 8px;font-size:.8rem}
.current{outline:3px solid var(--secondary)}
.button{display:block;text-align:center;background:var(--button);color:var(--button-text);text-decoration:none;font-weight:700;border-radius:12px;padding:14px;margin:0 0 16px}
footer{text-align:center;padding:0 16px 24px}
footer ul{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;justify-content:center;gap:8px}
footer a{display:inline-block;background:var(--surface);color:var(--primary);border:1px solid var(--secondary);border-radius:999px;padding:6px 14px;text-decoration:none;font-size:.9rem}
.notfound{text-align:center}
@media print{body{background:#fff}.card{box-shadow:none}}
`;
}

function footerHtml(links) {
  const l = isObject(links) ? links : {};
  const items = [];
  const add = (href, label) => {
    if (href) items.push(`<li><a href="${escapeHtml(href)}" rel="noopener noreferrer">${label}</a></li>`);
  };
  add(whatsappUrl(l.whatsapp), "واتساب");
  const phone = phoneDigits(l.phone);
  add(phone && `tel:${phone}`, `اتصل بنا <bdi>${escapeHtml(text(l.phone))}</bdi>`);
  const email = text(l.email);
  add(EMAIL.test(email) && `mailto:${email}`, "البريد الإلكتروني");
  add(linkUrl(l.facebook), "فيسبوك");
  add(linkUrl(l.instagram), "إنستجرام");
  add(linkUrl(l.tiktok), "تيك توك");
  add(linkUrl(l.youtube), "يوتيوب");
  return items.length ? `<footer><ul>${items.join("")}</ul></footer>` : "";
}

function layout({ title, design, siteName, mainSiteUrl, body }) {
  const d = isObject(design) ? design : {};
  const links = isObject(d.links) ? d.links : {};
  const colors = palette(d.colors);
  const logo = imageUrl(d.logo_url);
  const site = text(siteName);
  const website = linkUrl(links.website) || linkUrl(mainSiteUrl);
  const fullTitle = site ? `${title} — ${site}` : title;
  return `<!doctype html>
<html lang="ar" dir="rtl">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="theme-color" content="${escapeHtml(colors.primary)}">
<title>${escapeHtml(fullTitle)}</title>
<style>${styles(colors, imageUrl(d.background_image_url), logoSize(d.logo_size))}</style>
</head>
<body>
<header class="site">${logo ? `<img class="logo" src="${escapeHtml(logo)}" alt="${escapeHtml(site)}">` : ""}${
    site ? `<p class="site-name">${escapeHtml(site)}</p>` : ""
  }</header>
<main class="wrap">
${body}
${website ? `<a class="button" href="${escapeHtml(website)}" rel="noopener noreferrer">زيارة الموقع</a>` : ""}
</main>
${footerHtml(links)}
</body>
</html>
`;
}

// ------------------------------------------------------------------ pages

export function renderProductPage({ product, design, siteName, mainSiteUrl } = {}) {
  const p = isObject(product) ? product : {};
  const name = text(p.name) || text(p.code) || "منتج";
  const desc = text(p.description);
  const body = `<article class="card product">
${text(p.category) ? `<span class="badge">${escapeHtml(text(p.category))}</span>` : ""}
<h1 class="name">${escapeHtml(name)}</h1>
${text(p.code) ? `<p class="code">الكود: <bdi>${escapeHtml(text(p.code))}</bdi></p>` : ""}
${priceBlock(p.price, p.currency)}
${details([["الوحدة", unitLabel(p.unit)], ["الفئة", p.category]])}
${desc ? `<p class="desc">${multiline(desc)}</p>` : ""}
${variantsHtml(p.variants, p.currency)}
</article>`;
  return layout({ title: name, design, siteName, mainSiteUrl, body });
}

export function renderSetPage({ title, product, products, design, siteName, mainSiteUrl } = {}) {
  const p = isObject(product) ? product : null;
  const setName = text(title) || (p && text(p.name)) || "مجموعة منتجات";
  const currentCode = p ? text(p.code) : "";
  const members = (Array.isArray(products) ? products : []).filter(isObject);
  const cards = members.map((m) => {
    const code = text(m.code);
    const href = memberHref(code);
    const isCurrent = currentCode !== "" && code === currentCode;
    const inner = `${isCurrent ? `<span class="badge">هذا المنتج</span>` : ""}
<h2 class="name">${escapeHtml(text(m.name) || code)}</h2>
${code ? `<p class="code">الكود: <bdi>${escapeHtml(code)}</bdi></p>` : ""}
${priceBlock(m.price, m.currency ?? p?.currency)}
${details([["الخامة", m.material], ["العرض", m.width], ["الوحدة", unitLabel(m.unit)], ["الفئة", m.category]])}`;
    const cls = `card member${isCurrent ? " current" : ""}`;
    return href ? `<a class="${cls}" href="${escapeHtml(href)}">${inner}</a>` : `<div class="${cls}">${inner}</div>`;
  });
  const body = `<h1 class="set-title">${escapeHtml(setName)}</h1>
<p class="count">عدد المنتجات: <bdi>${members.length}</bdi></p>
${cards.join("\n")}`;
  return layout({ title: setName, design, siteName, mainSiteUrl, body });
}

export function renderNotFoundPage({ design, siteName, mainSiteUrl } = {}) {
  const body = `<article class="card notfound">
<h1 class="name">المنتج غير موجود</h1>
<p>عذرًا، لم نعثر على هذا المنتج. ربما تم حذفه أو تغيير رمزه، يمكنك تصفح منتجاتنا من الموقع.</p>
</article>`;
  return layout({ title: "المنتج غير موجود", design, siteName, mainSiteUrl, body });
}
