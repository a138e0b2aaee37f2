#!/usr/bin/env bash
# Builds a real Rails console image (`bin/rails console` of a tiny app) without any registry or
# network: Debian's ruby-rails and ruby-sqlite3 on this machine — every file of them and of the
# packages they depend on (the dependency closure, as installed) — busybox for a shell, a
# non-root user (1000), and an app made here with `rails new --minimal` whose Gemfile names only
# rails and sqlite3 (so `bundle install --local` resolves from the system's gems). The root is
# read-only at run time: the catalogue gives the app its writable tmp/ and log/ (`writable:`).
# Idempotent: an image already tagged with this build's content hash is reused.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/rootfs.sh"
name="${1:-sallyport-demo/rails}"
for cmd in ruby rails bundle; do
  if ! command -v "$cmd" >/dev/null; then
    echo "the Rails demo needs Debian's Rails on this machine: apt-get install ruby-rails ruby-sqlite3 (then run $0 again)" >&2
    exit 1
  fi
done
if ! ruby -e 'require "sqlite3"' 2>/dev/null; then
  echo "the Rails demo needs SQLite for Ruby: apt-get install ruby-sqlite3 (then run $0 again)" >&2
  exit 1
fi

# The installed dependency closure (Depends and Pre-Depends; the first of each alternative that
# is installed) of the packages the console runs on.
closure() {
  local -A seen=()
  local queue=("$@") p alt d
  while [ ${#queue[@]} -gt 0 ]; do
    p="${queue[0]%%:*}"
    queue=("${queue[@]:1}")
    [ -n "${seen[$p]:-}" ] && continue
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || continue
    seen[$p]=1
    while read -r alt; do
      for d in ${alt//|/ }; do
        d="${d%%(*}"
        if dpkg-query -W -f='${Status}' "${d%%:*}" 2>/dev/null | grep -q 'install ok installed'; then queue+=("$d"); break; fi
      done
    done < <(dpkg-query -W -f='${Depends},${Pre-Depends}\n' "$p" | tr ',' '\n' | sed 's/([^)]*)//g; s/ //g' | grep -v '^$')
  done
  printf '%s\n' "${!seen[@]}" | sort
}
mapfile -t pkgs < <(closure ruby-rails ruby-sqlite3 ruby-bundler ncurses-base)
versions="$(dpkg-query -W -f='${Package} ${Version}\n' "${pkgs[@]}")"
hash="$( (sha256sum "$0" "$here/rootfs.sh" /bin/busybox; echo "$versions") | sha256sum | cut -c1-12)"
if docker image inspect "$name:$hash" >/dev/null 2>&1; then docker tag "$name:$hash" "$name:latest"; echo "$name:$hash"; exit 0; fi

root="$(mktemp -d)"
work="$(mktemp -d)"
trap 'rm -rf "$root" "$work"' EXIT
rootfs_busybox "$root"
# Debian 12 merged /lib into /usr/lib; packages still list /lib paths.
mkdir -p "$root/usr/lib" "$root/usr/lib64"
ln -s usr/lib "$root/lib"
ln -s usr/lib64 "$root/lib64"
# Every file and link of the closure (no documentation), at the same paths. /bin stays busybox's.
for p in "${pkgs[@]}"; do dpkg -L "$p"; done |
  grep -v -E '^/(usr/share/(doc|man|info|locale|lintian)|bin|sbin)(/|$)' | sort -u |
  while read -r f; do if [ -f "$f" ] || [ -L "$f" ]; then echo "${f#/}"; fi; done > "$work/files"
tar -C / --no-recursion -cf - -T "$work/files" | tar -C "$root" --keep-directory-symlink -xf -
# Scripts start with #!/usr/bin/env ruby; coreutils is not in the closure, busybox has env.
[ -e "$root/usr/bin/env" ] || ln -s /bin/busybox "$root/usr/bin/env"

# The app: generated here, its bundle resolved from the system's gems (offline).
(
  cd "$work"
  rails new app --minimal --skip-bundle --skip-git --skip-javascript --skip-test --skip-bootsnap --quiet >/dev/null
  cd app
  printf "source 'https://rubygems.org'\ngem 'rails'\ngem 'sqlite3'\n" > Gemfile
  # The evented file watcher needs the listen gem; a console does not watch files.
  sed -i 's/^\(\s*\)config.file_watcher = /\1# config.file_watcher = /' config/environments/development.rb
  BUNDLE_SILENCE_ROOT_WARNING=1 bundle install --local --quiet >/dev/null
  # What a Rails user types first is `User.count`: a model, and its SQLite database in tmp/ (the
  # one writable place, empty for each console), made from db/schema.rb and seeded at boot.
  mkdir -p app/models db
  printf 'class User < ApplicationRecord\nend\n' > app/models/user.rb
  cat > db/schema.rb <<'RUBY'
ActiveRecord::Schema.define(version: 1) do
  create_table :users, force: true do |t|
    t.string :name, null: false
    t.string :email
    t.timestamps
  end
end
RUBY
  cat > config/database.yml <<'YAML'
development:
  adapter: sqlite3
  database: tmp/development.sqlite3
  pool: 5
  timeout: 5000
YAML
  cat > config/initializers/demo_database.rb <<'RUBY'
# The demo's database lives in tmp/ (a fresh tmpfs per console): create and seed it at boot.
Rails.application.config.after_initialize do
  unless ActiveRecord::Base.connection.table_exists?(:users)
    ActiveRecord::Schema.verbose = false
    load Rails.root.join("db/schema.rb")
    [["Ada Lovelace", "ada@example.test"], ["Grace Hopper", "grace@example.test"], ["Alan Turing", "alan@example.test"]].each do |name, email|
      User.create!(name: name, email: email)
    end
  end
end
RUBY
  rm -rf tmp log
  mkdir tmp log
)
cp -a "$work/app" "$root/app"
rootfs_app_user "$root"
rootfs_import "$root" "$name" "$hash" /app/bin:/usr/local/bin:/usr/bin:/bin '["bin/rails", "console"]' 'LANG=C.UTF-8'
