import { test } from "node:test";
import assert from "node:assert/strict";
import {
  escapeHtml,
  safeColor,
  safeUrl,
  formatPrice,
  priceBeforeDiscount,
  currencySymbol,
  renderProductPage,
  renderSetPage,
  renderNotFoundPage,
} from "../src/templates.js";

const XSS = `<script>alert("x")</script>'&`;
const XSS_ESCAPED = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39;&amp;";
const RAW_FRAGMENTS = ["<script>", "</script>", 'alert("x")'];

function assertNoRaw(html) {
  for (const raw of RAW_FRAGMENTS) assert.ok(!html.includes(raw), `raw ${raw} leaked`);
}

function count(haystack, needle) {
  return haystack.split(needle).length - 1;
}

const hostileProduct = {
  code: `C1${XSS}`,
  name: `N${XSS}`,
  description: `D${XSS}\nline2`,
  price: "390.00",
  currency: `Q${XSS}`,
  unit: `U${XSS}`,
  category: `K${XSS}`,
  variants: [
    { code: `V${XSS}`, color_name: `CN${XSS}`, color_hex: `red;}body{display:none`, price: "12.5", is_available: false },
    { code: "V2", color_name: "أزرق", color_hex: "#0000ff", price: "15", is_available: true },
  ],
};

test("escapeHtml escapes the five characters and maps nullish to empty", () => {
  assert.equal(escapeHtml(`<a href="x" title='y'>&</a>`), "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;");
  assert.equal(escapeHtml(null), "");
  assert.equal(escapeHtml(undefined), "");
  assert.equal(escapeHtml(0), "0");
});

test("product page escapes every document field", () => {
  const html = renderProductPage({ product: hostileProduct, design: {}, siteName: `S${XSS}`, mainSiteUrl: "https://example.com" });
  assertNoRaw(html);
  for (const prefix of ["C1", "N", "D", "U", "K", "CN", "S", "Q"]) {
    assert.ok(html.includes(prefix + XSS_ESCAPED), `escaped ${prefix} field missing`);
  }
  assert.ok(html.includes(`D${XSS_ESCAPED}<br>line2`), "newline in description becomes <br>");
  assert.ok(html.includes(`<title>N${XSS_ESCAPED} — S${XSS_ESCAPED}</title>`));
});

test("product page shows prices, discount, unit and variants", () => {
  const html = renderProductPage({
    product: { code: "A1", name: "قماش", price: "1250.00", currency: "EGP", unit: "meter", variants: hostileProduct.variants },
    siteName: "الخواجة",
  });
  assert.ok(html.startsWith("<!doctype html>"));
  assert.ok(html.includes('<html lang="ar" dir="rtl">'));
  assert.ok(html.includes('<meta charset="utf-8">'));
  assert.ok(html.includes("<bdi>1,250</bdi>"));
  assert.ok(html.includes("ج.م"));
  assert.ok(html.includes("السعر قبل الخصم"));
  assert.ok(html.includes("<bdi>1,500</bdi>")); // 1250 × 1.2
  assert.ok(html.includes("<dd>متر</dd>"));
  assert.ok(html.includes("غير متوفر"));
  assert.equal(count(html, "غير متوفر"), 1);
  assert.ok(html.includes("background:#0000ff"));
  assert.ok(html.includes("background:transparent"), "hostile variant colour falls back to transparent");
  assert.ok(!html.includes("display:none"));
  assert.ok(!/<script/i.test(html), "no script elements at all");
  assert.ok(!/\son[a-z]+=/i.test(html), "no inline event handlers");
});

test("price before discount is omitted when the price is not numeric", () => {
  const html = renderProductPage({ product: { code: "A1", name: "x", price: "call us" } });
  assert.ok(!html.includes("السعر قبل الخصم"));
  assert.ok(!html.includes("call us"));
});

test("renderProductPage works with design undefined and with a missing product", () => {
  const html = renderProductPage({ product: { code: "A1", name: "x", price: 10 }, design: undefined, siteName: "S", mainSiteUrl: "https://shop.example/" });
  assert.ok(html.includes("#1b2a4a"), "default palette used");
  assert.ok(html.includes('href="https://shop.example/"'), "visit-website falls back to mainSiteUrl");
  assert.ok(html.includes("زيارة الموقع"));
  const empty = renderProductPage({ product: null });
  assert.ok(empty.includes("<title>منتج</title>"));
});

test("set page escapes members and links to encoded codes", () => {
  const members = [
    { code: `M1${XSS}`, name: `MN${XSS}`, price: 400, currency: "SAR", category: `MC${XSS}`, material: `MM${XSS}`, width: `MW${XSS}`, unit: `MU${XSS}` },
    { code: "ب 2/3", name: "عضو", price: 801, currency: "USD", category: null, material: null, width: 150, unit: "piece" },
  ];
  const html = renderSetPage({ title: `T${XSS}`, product: { code: "ب 2/3", name: "p" }, products: members, design: null, siteName: `S${XSS}` });
  assertNoRaw(html);
  for (const prefix of ["M1", "MN", "MC", "MM", "MW", "MU", "T", "S"]) {
    assert.ok(html.includes(prefix + XSS_ESCAPED), `escaped ${prefix} field missing`);
  }
  assert.ok(html.includes(`href="${escapeHtml("/" + encodeURIComponent(members[0].code))}"`));
  assert.ok(html.includes(`href="/${encodeURIComponent("ب 2/3")}"`));
  assert.ok(html.includes("<bdi>540</bdi>"), "400 × 1.35");
  assert.ok(html.includes("<bdi>961</bdi>"), "801 × 1.2");
  assert.ok(html.includes("ر.س") && html.includes("$"));
  assert.ok(html.includes("<dd>150</dd>") && html.includes("<dd>قطعة</dd>"));
  assert.ok(html.includes("هذا المنتج"), "current product is marked");
});

test("set page renders a bare SetDoc with product null", () => {
  const html = renderSetPage({ title: "طقم", product: null, products: [{ code: "X", name: "x", price: 5 }] });
  assert.ok(html.includes("<title>طقم</title>"));
  assert.ok(html.includes('href="/X"'));
  assert.ok(!html.includes("هذا المنتج"));
});

test("design values are escaped or dropped", () => {
  const design = {
    logo_url: "javascript:alert(1)",
    background_image_url: 'https://img.example/a") ;}body{display:none}/*(x).png',
    logo_size: 9999,
    colors: {
      primary: "red;}body{display:none",
      secondary: "url(javascript:alert(1))",
      background: "expression(alert(1))",
      price: "rgb(1,2,3)",
      badge: "#abc",
      label: "teal",
    },
    links: {
      website: "javascript:alert(1)",
      facebook: `https://fb.example/"><script>alert("x")</script>`,
      instagram: "data:image/png;base64,AAAA",
      whatsapp: "+20 100 123-4567",
      phone: "+20 (100) 1234567",
      email: `a@b.co"><script>`,
      youtube: "vbscript:msgbox",
    },
  };
  const html = renderProductPage({ product: { code: "A", name: "n", price: 1 }, design, siteName: "S", mainSiteUrl: "https://main.example/" });
  assertNoRaw(html);
  assert.ok(!html.includes("javascript:"), "javascript: URLs dropped");
  assert.ok(!html.includes("vbscript:"));
  const bgUrl = 'url("https://img.example/a%22%29%20;%7Dbody%7Bdisplay:none%7D/*%28x%29.png")';
  assert.ok(html.includes(bgUrl), "background URL cannot break out of the CSS string or url()");
  assert.ok(!html.replace(bgUrl, "").includes("display:none"), "colour injection rejected");
  assert.ok(!html.includes("expression("));
  assert.ok(!/<img/.test(html), "unsafe logo omitted");
  assert.ok(html.includes('href="https://main.example/"'), "unsafe website falls back to mainSiteUrl");
  assert.ok(html.includes("--primary:#1b2a4a"), "default primary used");
  assert.ok(html.includes("--secondary:#c9a227"));
  assert.ok(html.includes("--bg:#f4f1ea"));
  assert.ok(html.includes("--price:rgb(1,2,3)") && html.includes("--badge:#abc") && html.includes("--label:teal"));
  assert.ok(html.includes("width:400px"), "logo size clamped");
  assert.ok(!html.includes("instagram") && !html.includes("data:image/png;base64,AAAA"), "data: URL is not a link");
  assert.ok(html.includes('href="https://wa.me/201001234567"'));
  assert.ok(html.includes('href="tel:+201001234567"'));
  assert.ok(!html.includes("mailto:"), "malformed email dropped");
  assert.ok(html.includes('href="https://fb.example/%22%3E%3Cscript%3Ealert(%22x%22)%3C/script%3E"'));
});

test("logo accepts https and base64 data URLs", () => {
  const data = "data:image/png;base64,iVBORw0KGgo=";
  const html = renderProductPage({ product: {}, design: { logo_url: data, logo_size: 10, background_image_url: "https://img.example/bg.jpg" } });
  assert.ok(html.includes(`<img class="logo" src="${data}"`));
  assert.ok(html.includes("width:40px"));
  assert.ok(html.includes('url("https://img.example/bg.jpg")'));
});

test("safeColor", () => {
  for (const ok of ["#fff", "#1b2a4a", "#1b2a4a80", "rgb(1, 2, 3)", "rgba(1,2,3,.5)", "hsl(120, 50%, 50%)", "hsla(1,2%,3%,0.4)", "navy"]) {
    assert.equal(safeColor(ok, "F"), ok);
  }
  for (const bad of ["red;}body{display:none", "url(javascript:alert(1))", "expression(alert(1))", "#ff", "#fffff", "rgb(1,2,3);x", "rgb(var(--x))", "", null, 5, "red blue", "</style>"]) {
    assert.equal(safeColor(bad, "F"), "F", String(bad));
  }
});

test("safeUrl", () => {
  assert.equal(safeUrl("https://example.com/a?b=1"), "https://example.com/a?b=1");
  assert.equal(safeUrl("http://example.com/"), "http://example.com/");
  assert.equal(safeUrl("data:image/svg+xml;base64,PHN2Zz4="), "data:image/svg+xml;base64,PHN2Zz4=");
  for (const bad of ["javascript:alert(1)", " JavaScript:alert(1)", "data:text/html;base64,PHNjcmlwdD4=", "data:image/png,<svg>", "/relative", "ftp://x/", "", null, 42]) {
    assert.equal(safeUrl(bad), "", String(bad));
  }
});

test("formatPrice", () => {
  assert.equal(formatPrice("390.00"), "390");
  assert.equal(formatPrice(1250), "1,250");
  assert.equal(formatPrice("1250.5"), "1,250.5");
  assert.equal(formatPrice("12.5"), "12.5");
  assert.equal(formatPrice("abc"), "");
  assert.equal(formatPrice(""), "");
  assert.equal(formatPrice(null), "");
  assert.equal(formatPrice("0x10"), "");
  assert.equal(formatPrice(NaN), "");
});

test("priceBeforeDiscount boundaries", () => {
  const cases = [[400, 540], [401, 521], [600, 780], [601, 751], [800, 1000], [801, 961], ["390.00", 527], [0, null], ["x", null], [-5, null], [null, null]];
  for (const [input, expected] of cases) assert.equal(priceBeforeDiscount(input), expected, String(input));
});

test("currencySymbol", () => {
  assert.equal(currencySymbol("EGP"), "ج.م");
  assert.equal(currencySymbol("SAR"), "ر.س");
  assert.equal(currencySymbol("USD"), "$");
  assert.equal(currencySymbol("EUR"), "€");
  assert.equal(currencySymbol("GBP"), "GBP");
  assert.equal(currencySymbol(null), "");
  assert.equal(currencySymbol(undefined), "");
});

test("404 page takes no caller-supplied path or code", () => {
  const html = renderNotFoundPage({ design: undefined, siteName: "الخواجة", mainSiteUrl: "https://main.example/" });
  assert.ok(html.startsWith("<!doctype html>"));
  assert.ok(html.includes("المنتج غير موجود"));
  assert.ok(html.includes('href="https://main.example/"'));
  // Extra arguments (as a careless caller might pass) are ignored entirely.
  const probe = `/<script>alert("x")</script>CODE123`;
  const withExtras = renderNotFoundPage({ design: {}, siteName: "S", mainSiteUrl: "", code: probe, path: probe });
  assert.ok(!withExtras.includes("CODE123"));
  assertNoRaw(withExtras);
  assert.ok(renderNotFoundPage().includes("المنتج غير موجود"), "works with no arguments");
});
