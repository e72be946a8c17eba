# bash completion for pgmlctl.  The words come from pgmlctl itself
# (`pgmlctl __complete WORD...`), so they always match the installed
# version: commands, options, option values and, from a running pgmld,
# collection names.  Installed as
# /usr/share/bash-completion/completions/pgmlctl; or `source` this file.
_pgmlctl() {
  local cur words cword
  cur="${COMP_WORDS[COMP_CWORD]}"
  words=("${COMP_WORDS[@]:1:COMP_CWORD}")
  local IFS=$'\n'
  local out
  out=$("${COMP_WORDS[0]}" __complete "${words[@]}" 2>/dev/null) || return 0
  if [[ "$out" == *__files__* ]]; then
    COMPREPLY=($(compgen -f -- "$cur"))
    compopt -o filenames 2>/dev/null
  else
    COMPREPLY=($(compgen -W "$out" -- "$cur"))
  fi
}
complete -F _pgmlctl pgmlctl
