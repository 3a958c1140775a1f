#include "ui.hpp"

#include <ctime>

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Stringifier.h>

#include <algorithm>
#include <ostream>

namespace bosh::cli {

std::size_t display_width(const std::string& s) {
  std::size_t width = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == 0x1b) {  // skip "\x1b[...m"
      while (i < s.size() && s[i] != 'm') ++i;
      continue;
    }
    if ((c & 0xC0) != 0x80) ++width;  // count lead bytes only
  }
  return width;
}

Ui::Ui(std::ostream& out, std::ostream& err, bool json, bool color, bool err_is_terminal)
    : out_(out), err_(err), json_(json), color_(color && !json), err_tty_(err_is_terminal) {}

void Ui::progress(const std::string& stage, std::size_t done, std::size_t total, const std::string& item) {
  if (!err_tty_) {
    if (!json_) err_ << stage << " (" << done << "/" << total << "): " << item << '\n';
    return;
  }
  constexpr std::size_t kWidth = 30;
  std::size_t filled = total ? done * kWidth / total : kWidth;
  err_ << "\r\x1b[K" << stage << " [" << std::string(filled, '#') << std::string(kWidth - filled, ' ') << "] "
       << done << "/" << total << " " << item;
  bar_open_ = done < total;
  if (!bar_open_) err_ << '\n';
  err_.flush();
}

Ui::~Ui() { finish(); }

std::string Ui::bold(const std::string& s) const { return color_ ? "\x1b[1m" + s + "\x1b[0m" : s; }
std::string Ui::red(const std::string& s) const { return color_ ? "\x1b[31m" + s + "\x1b[0m" : s; }
std::string Ui::green(const std::string& s) const { return color_ ? "\x1b[32m" + s + "\x1b[0m" : s; }
std::string Ui::yellow(const std::string& s) const { return color_ ? "\x1b[33m" + s + "\x1b[0m" : s; }

void Ui::line(const std::string& text) {
  if (json_)
    lines_.push_back(text);
  else
    out_ << text << '\n';
}

void Ui::table(const Table& table) {
  if (json_) {
    tables_.push_back(table);
    return;
  }
  if (table.rows.empty()) {
    out_ << table.empty_text << '\n';
    return;
  }
  std::vector<std::size_t> widths(table.headers.size(), 0);
  for (std::size_t c = 0; c < table.headers.size(); ++c) {
    widths[c] = display_width(table.headers[c]);
    for (const auto& row : table.rows)
      if (c < row.size()) widths[c] = std::max(widths[c], display_width(row[c]));
  }
  auto print_row = [&](const std::vector<std::string>& cells, bool header) {
    std::string text;
    for (std::size_t c = 0; c < widths.size(); ++c) {
      std::string cell = c < cells.size() ? cells[c] : "";
      bool last = c + 1 == widths.size();
      std::string padded = cell + (last ? "" : std::string(widths[c] - display_width(cell) + 2, ' '));
      text += header ? bold(padded) : padded;
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out_ << text << '\n';
  };
  print_row(table.headers, true);
  for (const auto& row : table.rows) print_row(row, false);
  if (table.footer.empty())
    out_ << '\n' << table.rows.size() << ' ' << table.content << '\n';
  else
    out_ << '\n' << table.footer << '\n';
}

void Ui::end_bar() {
  if (bar_open_) err_ << '\n';
  bar_open_ = false;
}

void Ui::warn(const std::string& text) {
  end_bar();
  err_ << yellow("Warning: ") << text << '\n';
}

void Ui::error(const std::string& text) {
  end_bar();
  err_ << red("Error: ") << text << '\n';
}

void Ui::finish() {
  if (!json_ || finished_) return;
  finished_ = true;
  Poco::JSON::Object doc(Poco::JSON_PRESERVE_KEY_ORDER);
  Poco::JSON::Array::Ptr tables = new Poco::JSON::Array;
  for (const auto& t : tables_) {
    Poco::JSON::Object::Ptr obj = new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER);
    obj->set("content", t.content);
    Poco::JSON::Object::Ptr header = new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER);
    for (std::size_t c = 0; c < t.keys.size(); ++c) header->set(t.keys[c], t.headers[c]);
    obj->set("header", header);
    Poco::JSON::Array::Ptr rows = new Poco::JSON::Array;
    for (const auto& row : t.rows) {
      Poco::JSON::Object::Ptr r = new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER);
      for (std::size_t c = 0; c < t.keys.size(); ++c) r->set(t.keys[c], c < row.size() ? row[c] : "");
      rows->add(r);
    }
    obj->set("rows", rows);
    tables->add(obj);
  }
  doc.set("tables", tables);
  Poco::JSON::Array::Ptr lines = new Poco::JSON::Array;
  for (const auto& l : lines_) lines->add(l);
  doc.set("lines", lines);
  Poco::JSON::Stringifier::stringify(doc, out_, 2);
  out_ << '\n';
}

}  // namespace bosh::cli
