// Charter's only script, two small progressive enhancements. Without JavaScript
// both pages work through plain links and forms.
//  * Naming page: check the name as it is typed (GET /ui/lint?name=…).
//  * Audit page: verify the hash chain after the page has loaded (GET /ui/audit/verify),
//    so a long log does not hold the page back.
// Everything the server returns is inserted as text, never as HTML.
(function () {
  "use strict";

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function getJson(url) {
    return fetch(url, { headers: { Accept: "application/json" } }).then(function (response) {
      if (!response.ok) throw new Error(url + " answered " + response.status);
      return response.json();
    });
  }

  // --- naming: live check ------------------------------------------------------------

  function codeLine(className, name, rest) {
    var line = el("p", className);
    line.appendChild(el("code", "", name));
    line.appendChild(document.createTextNode(rest));
    return line;
  }

  function showFindings(result, check) {
    result.replaceChildren();
    var count = check.findings.length;
    if (!count) {
      result.appendChild(codeLine("lint-ok", check.name, " follows the naming policy."));
      return;
    }
    result.appendChild(codeLine("lint-bad", check.name, " breaks the naming policy (" +
      count + (count === 1 ? " finding)." : " findings).")));
    var list = el("ul", "findings");
    check.findings.forEach(function (finding) {
      var item = el("li");
      item.appendChild(el("code", "finding-code", finding.code));
      if (finding.token) {
        item.appendChild(document.createTextNode(" "));
        item.appendChild(el("span", "finding-token", finding.token));
      }
      item.appendChild(el("p", "", finding.message));
      if (finding.suggestion) item.appendChild(el("p", "fix", "Fix: " + finding.suggestion));
      list.appendChild(item);
    });
    result.appendChild(list);
    if (check.suggested_name) {
      var line = el("p", "", "Suggested name: ");
      line.appendChild(el("code", "suggested", check.suggested_name));
      result.appendChild(line);
    }
  }

  function liveNameCheck(input, result) {
    var timer = null;
    var latest = 0;
    function check() {
      var name = input.value;
      var ticket = ++latest;
      if (!name) {
        result.replaceChildren();
        return;
      }
      getJson("/ui/lint?name=" + encodeURIComponent(name))
        .then(function (data) { if (ticket === latest) showFindings(result, data); })
        .catch(function () { /* keep the last result; the Check button still works */ });
    }
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(check, 150);
    });
  }

  // --- audit: chain verification -----------------------------------------------------

  function plural(count, word) {
    return count + " " + word + (count === 1 ? "" : "s");
  }

  function showReport(status, report) {
    var box = el("div", "verify " + (report.ok ? "verify-ok" : "verify-bad"));
    box.setAttribute("role", report.ok ? "status" : "alert");
    var line = el("p");
    if (report.ok) {
      line.appendChild(el("strong", "", "Chain verified"));
      line.appendChild(document.createTextNode(" — all " + plural(report.events_checked, "event") +
        " match their hashes; nothing was altered or removed." +
        (report.verified_from ? " Events up to #" + report.verified_from + " were proved at " +
          report.verified_at + "; the " + (report.events_checked - report.verified_from) +
          " after it were checked now." : "")));
    } else {
      line.appendChild(el("strong", "", "Chain broken at event " + report.first_bad_seq));
      line.appendChild(document.createTextNode(" — " + report.problem + ". " +
        plural(report.events_checked, "event") + " before it verified."));
    }
    box.appendChild(line);
    if (!report.ok) {
      var advice = el("p", "", "Run ");
      advice.appendChild(el("code", "", "charter audit verify"));
      advice.appendChild(document.createTextNode(" on the server and compare with a backup."));
      box.appendChild(advice);
    }
    status.replaceChildren(box);
  }

  function verifyChain(status) {
    if (!status.querySelector(".verify-pending")) return;   // already verified server-side
    var pending = status.querySelector(".verify-pending p");
    pending.replaceChildren(el("strong", "", "Verifying the hash chain…"));
    getJson(status.getAttribute("data-verify-url"))
      .then(function (report) { showReport(status, report); })
      .catch(function () {
        pending.replaceChildren(el("strong", "", "The chain could not be verified just now."));
        var retry = el("a", "", " Try again");
        retry.href = "/audit?verify=1";
        pending.appendChild(retry);
      });
  }

  var input = document.getElementById("name-input");
  var result = document.getElementById("lint-result");
  if (input && result) liveNameCheck(input, result);
  var status = document.getElementById("chain-status");
  if (status) verifyChain(status);
})();
