// The vt subcommands that work on archives, and what they share.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace vt::cli {

struct Args {
  std::string address;
  std::vector<std::string> words;                    // operands
  std::map<char, std::vector<std::string>> flags;    // every value of each option

  bool has(char c) const { return flags.contains(c); }
  const std::string& flag(char c) const { return flags.at(c).back(); }
};

int cmd_vac(const Args& a);
int cmd_unvac(const Args& a);
int cmd_ls(const Args& a);
int cmd_cat(const Args& a);
int cmd_log(const Args& a);
int cmd_check(const Args& a);

}  // namespace vt::cli
