/* The book's own page script (added to every page by book/_ext/book_pages.py; offline, no
   library). Two jobs:

   1. Wide content says that it scrolls. A display equation, a wide output table or a long code
      line that is wider than its box scrolls inside that box (book/_static/normlab-book.css); a
      reader on a phone (overlay scrollbars) or a desktop (a cut-off table) may not see that it
      does. Each such box gets the class "nl-scrolls" and a one-line hint under it, like the
      explorables' "swipe sideways" hint (normlab/explore.py); both go away when the box fits
      again (checked after MathJax has typeset the page and on every resize).

   2. The claims tables (normlab.claims.Table) read on a phone and can be filtered. Each cell gets
      a data-label from its column's heading (a phone shows each row as a card with labelled
      fields, the check and the verdict first), and on the claims page the element
      #normlab-claims-filter becomes a filter by chapter and by paper verdict, using the rows'
      data-chapter and data-verdict attributes (or, in a table without them, the row number
      "chapter.k" and the verdict badge); the page's summary line above the table counts the
      rows that the filter shows. */
(function () {
  "use strict";

  var WIDE = [
    ".bd-article mjx-container[display='true']",
    ".bd-article .cell_output .output.text_html",
    ".bd-article .pst-scrollable-table-container",
    ".bd-article div.highlight > pre",
    ".bd-article .cell_output pre",
    ".bd-article .normlab-figure-img",  // a static figure keeps its size on a phone (normlab.css)
  ].join(",");

  // The hint goes under the box; a display equation's box sits in Sphinx's div.math (a flex
  // row in the theme), so its hint goes under that div instead of beside the formula.
  function anchorOf(box) {
    var p = box.parentElement;
    return box.tagName === "MJX-CONTAINER" && p && p.matches("div.math") ? p : box;
  }

  function hintFor(box) {
    var next = anchorOf(box).nextElementSibling;
    return next && next.classList.contains("nl-scroll-hint") ? next : null;
  }

  function markWide() {
    document.querySelectorAll(WIDE).forEach(function (box) {
      if (box.closest(".normlab-explorable, .normlab-claims-scroll")) return;  // they have their own
      var wide = box.scrollWidth > box.clientWidth + 1 && box.clientWidth > 0;
      var hint = hintFor(box);
      box.classList.toggle("nl-scrolls", wide);
      if (wide && !hint) {
        hint = document.createElement("div");
        hint.className = "nl-scroll-hint";
        hint.setAttribute("aria-hidden", "true");
        hint.textContent = "\u2194 wider than the page: scroll it sideways to see all of it";
        anchorOf(box).insertAdjacentElement("afterend", hint);
        if (!box.hasAttribute("tabindex") && box.tagName !== "PRE") {
          // a keyboard reader can focus the box and scroll it with the arrow keys
          box.setAttribute("tabindex", "0");
        }
      } else if (!wide && hint) {
        hint.remove();
      }
    });
  }

  function labelClaims() {
    document.querySelectorAll("table.normlab-claims").forEach(function (table) {
      var heads = Array.prototype.map.call(table.querySelectorAll("thead th"), function (th) {
        return th.textContent.trim();
      });
      table.querySelectorAll("tbody tr").forEach(function (tr) {
        Array.prototype.forEach.call(tr.children, function (td, i) {
          if (heads[i] && !td.hasAttribute("data-label")) td.setAttribute("data-label", heads[i]);
          if (td.querySelector(".nl-pass, .nl-fail")) td.classList.add("nl-cell-check");
          if (td.querySelector(".nl-verdict")) td.classList.add("nl-cell-verdict");
          if (i === 0) td.classList.add("nl-cell-id");
        });
      });
    });
  }

  function rowChapter(tr) {
    if (tr.dataset.chapter) return tr.dataset.chapter;
    var first = tr.querySelector("td");
    var m = first && /^\s*(\d+)\./.exec(first.textContent);
    return m ? m[1] : "";
  }

  function rowVerdict(tr) {
    if (tr.dataset.verdict) return tr.dataset.verdict;
    var v = tr.querySelector(".nl-verdict");
    return v ? v.textContent.trim() : "";
  }

  function select(id, label, options) {
    var wrap = document.createElement("span");
    wrap.className = "nl-filter-field";
    var lab = document.createElement("label");
    lab.htmlFor = id;
    lab.textContent = label;
    var sel = document.createElement("select");
    sel.id = id;
    options.forEach(function (o) {
      var opt = document.createElement("option");
      opt.value = o[0];
      opt.textContent = o[1];
      sel.appendChild(opt);
    });
    wrap.appendChild(lab);
    wrap.appendChild(sel);
    return {wrap: wrap, select: sel};
  }

  // The page's one-line summary (normlab.claims.Table.summary_html) counts the rows shown: the
  // checks that pass and fail and each paper verdict, in the order data-verdicts gives.
  function summarize(shown, total, what) {
    document.querySelectorAll(".nl-claims-summary").forEach(function (p) {
      var order = (p.dataset.verdicts || "").split("|").filter(Boolean);
      var passed = shown.filter(function (tr) { return tr.querySelector("b.nl-pass"); }).length;
      var counts = order.map(function (v) {
        return shown.filter(function (tr) { return rowVerdict(tr) === v; }).length + " " + v;
      });
      var head = shown.length === total ? total + " claims"
        : shown.length + " of " + total + " claims (" + what + ")";
      p.textContent = head + ": check " + passed + " PASS, " + (shown.length - passed) +
        " FAIL; paper verdicts: " + counts.join(", ");
    });
  }

  function claimsFilter() {
    var host = document.getElementById("normlab-claims-filter");
    if (!host || host.dataset.ready) return;
    var rows = Array.prototype.slice.call(document.querySelectorAll("table.normlab-claims tbody tr"));
    if (!rows.length) return;
    var chapters = [], verdicts = [];
    rows.forEach(function (tr) {
      var c = rowChapter(tr), v = rowVerdict(tr);
      if (c && chapters.indexOf(c) < 0) chapters.push(c);
      if (v && verdicts.indexOf(v) < 0) verdicts.push(v);
    });
    chapters.sort(function (a, b) { return a - b; });
    var count = function (key, value) {
      return rows.filter(function (tr) { return key(tr) === value; }).length;
    };
    var ch = select("nl-filter-chapter", "Chapter",
      [["", "all chapters"]].concat(chapters.map(function (c) {
        return [c, "chapter " + c + " (" + count(rowChapter, c) + ")"];
      })));
    var vd = select("nl-filter-verdict", "Paper verdict",
      [["", "all verdicts"]].concat(verdicts.map(function (v) {
        return [v, v + " (" + count(rowVerdict, v) + ")"];
      })));
    var status = document.createElement("p");
    status.className = "nl-filter-status";
    status.setAttribute("role", "status");
    status.setAttribute("aria-live", "polite");
    var form = document.createElement("form");
    form.className = "nl-filter-form";
    form.setAttribute("role", "search");
    form.setAttribute("aria-label", "Filter the claims");
    form.addEventListener("submit", function (e) { e.preventDefault(); });
    form.appendChild(ch.wrap);
    form.appendChild(vd.wrap);
    host.appendChild(form);
    host.appendChild(status);

    function apply() {
      var c = ch.select.value, v = vd.select.value, shown = 0;
      rows.forEach(function (tr) {
        var keep = (!c || rowChapter(tr) === c) && (!v || rowVerdict(tr) === v);
        tr.hidden = !keep;
        if (keep) shown += 1;
      });
      status.textContent = shown === rows.length
        ? "Showing all " + rows.length + " claims."
        : "Showing " + shown + " of " + rows.length + " claims.";
      summarize(rows.filter(function (tr) { return !tr.hidden; }), rows.length,
                [c ? "chapter " + c : "", v].filter(Boolean).join(", "));
      markWide();
    }
    ch.select.addEventListener("change", apply);
    vd.select.addEventListener("change", apply);
    host.dataset.ready = "1";
    apply();
  }

  var timer = null;
  function later() {
    clearTimeout(timer);
    timer = setTimeout(markWide, 150);
  }

  function start() {
    labelClaims();
    claimsFilter();
    markWide();
    var hookMath = function () {  // MathJax loads after this script: re-measure once it typeset
      if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
        MathJax.startup.promise.then(markWide);
      }
    };
    hookMath();
    window.addEventListener("resize", later);
    window.addEventListener("load", function () { markWide(); hookMath(); });
    document.documentElement.dataset.normlabBook = "1";
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
