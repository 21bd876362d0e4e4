# Prints what zsh offers for a command line, from a completion script: zsh zsh-complete.zsh SCRIPT "line"
# (an interactive zsh in a pseudo-terminal, its compadd recording the matches).
zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z "PROMPT=''"
zpty -w z 'autoload -U compinit && compinit -u -D'
zpty -w z "source ${1}"
zpty -w z 'compadd () { builtin compadd -O __hits "$@"; print -r -- "<hits>${(j:|:)__hits}</hits>"; builtin compadd "$@" }'
zpty -w z 'bindkey "^I" complete-word'
zpty -w z 'zstyle ":completion:*" list-prompt ""; zstyle ":completion:*" menu no'
zpty -w z 'print -r -- "<ready>"'
zpty -r z line '*<ready>*'
zpty -w -n z "${2}"$'\t'
# Under load zsh may take seconds to run the completion: wait for its first hits (up to 20 s), then read
# until the output has been quiet for half a second.
local out="" l quiet=0 deadline=$(( SECONDS + 20 ))
while (( SECONDS < deadline )); do
  if zpty -r -t z l 2>/dev/null; then out+=$l; quiet=0
  elif [[ $out == *'</hits>'* ]] && (( ++quiet >= 5 )); then break
  else sleep 0.1; fi
done
print -r -- "$out" | grep -o '<hits>[^<]*</hits>' | sed 's/<\/*hits>//g' | tr '|' '\n' | sort -u
zpty -d z
