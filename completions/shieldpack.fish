# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_shieldpack_global_optspecs
    string join \n q/quiet v/verbose json color= no-progress h/help V/version
end

function __fish_shieldpack_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_shieldpack_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_shieldpack_using_subcommand
    set -l cmd (__fish_shieldpack_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c shieldpack -n "__fish_shieldpack_needs_command" -l color -d 'When to colour messages: auto honours NO_COLOR and whether stderr is a terminal' -r -f -a "auto\t''
always\t''
never\t''"
complete -c shieldpack -n "__fish_shieldpack_needs_command" -s q -l quiet -d 'Print nothing but errors and the data asked for'
complete -c shieldpack -n "__fish_shieldpack_needs_command" -s v -l verbose -d 'Print more about what is being done (repeat for more)'
complete -c shieldpack -n "__fish_shieldpack_needs_command" -l json -d 'Print one JSON document (or JSON Lines for streams) on stdout'
complete -c shieldpack -n "__fish_shieldpack_needs_command" -l no-progress -d 'Never draw progress bars'
complete -c shieldpack -n "__fish_shieldpack_needs_command" -s h -l help -d 'Print help'
complete -c shieldpack -n "__fish_shieldpack_needs_command" -s V -l version -d 'Print version'
complete -c shieldpack -n "__fish_shieldpack_needs_command" -f -a "keys" -d 'Create, inspect and export keyrings and content keys'
complete -c shieldpack -n "__fish_shieldpack_needs_command" -f -a "package" -d 'Package a media file into AES-128 encrypted HLS with rotating keys'
complete -c shieldpack -n "__fish_shieldpack_needs_command" -f -a "batch" -d 'Package every media file of a folder tree: parallel, resumable, shardable'
complete -c shieldpack -n "__fish_shieldpack_needs_command" -f -a "verify" -d 'Check a package: playlist rules, files, hashes and, with keys, decryption'
complete -c shieldpack -n "__fish_shieldpack_needs_command" -f -a "policy" -d 'Check scene protection policies, or make one from a video\'s shots'
complete -c shieldpack -n "__fish_shieldpack_needs_command" -f -a "inspect" -d 'Summarise a package folder or a media file'
complete -c shieldpack -n "__fish_shieldpack_needs_command" -f -a "rekey" -d 'Re-encrypt, in place and atomically, the segments whose key is no longer current'
complete -c shieldpack -n "__fish_shieldpack_needs_command" -f -a "watermark" -d 'Embed and extract forensic watermarks that name the session behind a leak'
complete -c shieldpack -n "__fish_shieldpack_needs_command" -f -a "serve" -d 'Preview a package on this machine: a loopback-only web server with a player page'
complete -c shieldpack -n "__fish_shieldpack_needs_command" -f -a "session" -d 'Per-session playlists over an A/B package (`package --ab-watermark`), signed URIs'
complete -c shieldpack -n "__fish_shieldpack_needs_command" -f -a "generate" -d 'Generate man pages or shell completions'
complete -c shieldpack -n "__fish_shieldpack_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and not __fish_seen_subcommand_from new show export wrap unwrap rewrap rotate revoke help" -l color -d 'When to colour messages: auto honours NO_COLOR and whether stderr is a terminal' -r -f -a "auto\t''
always\t''
never\t''"
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and not __fish_seen_subcommand_from new show export wrap unwrap rewrap rotate revoke help" -s q -l quiet -d 'Print nothing but errors and the data asked for'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and not __fish_seen_subcommand_from new show export wrap unwrap rewrap rotate revoke help" -s v -l verbose -d 'Print more about what is being done (repeat for more)'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and not __fish_seen_subcommand_from new show export wrap unwrap rewrap rotate revoke help" -l json -d 'Print one JSON document (or JSON Lines for streams) on stdout'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and not __fish_seen_subcommand_from new show export wrap unwrap rewrap rotate revoke help" -l no-progress -d 'Never draw progress bars'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and not __fish_seen_subcommand_from new show export wrap unwrap rewrap rotate revoke help" -s h -l help -d 'Print help'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and not __fish_seen_subcommand_from new show export wrap unwrap rewrap rotate revoke help" -s V -l version -d 'Print version'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and not __fish_seen_subcommand_from new show export wrap unwrap rewrap rotate revoke help" -f -a "new" -d 'Create a keyring: a random master secret age-wrapped to recipients'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and not __fish_seen_subcommand_from new show export wrap unwrap rewrap rotate revoke help" -f -a "show" -d 'List a keyring\'s metadata (never a secret unless --reveal)'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and not __fish_seen_subcommand_from new show export wrap unwrap rewrap rotate revoke help" -f -a "export" -d 'Export the keys a package uses, for a key server, a packager or a player'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and not __fish_seen_subcommand_from new show export wrap unwrap rewrap rotate revoke help" -f -a "wrap" -d 'Encrypt a file with age (to recipients or a passphrase), like `age -e`'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and not __fish_seen_subcommand_from new show export wrap unwrap rewrap rotate revoke help" -f -a "unwrap" -d 'Decrypt an age file (armored or binary, detected), like `age -d`'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and not __fish_seen_subcommand_from new show export wrap unwrap rewrap rotate revoke help" -f -a "rewrap" -d 'Re-wrap a keyring\'s master to a new set of recipients (same keys, same fingerprint)'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and not __fish_seen_subcommand_from new show export wrap unwrap rewrap rotate revoke help" -f -a "rotate" -d 'Start a new key generation for a content id\'s periods N and later'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and not __fish_seen_subcommand_from new show export wrap unwrap rewrap rotate revoke help" -f -a "revoke" -d 'Mark a content id\'s periods or a key generation revoked'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and not __fish_seen_subcommand_from new show export wrap unwrap rewrap rotate revoke help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from new" -s o -l output -d 'Where to write the keyring (refuses to overwrite)' -r -F
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from new" -s r -l recipient -d 'Wrap the master to this age recipient (age1..., ssh-ed25519 ..., ssh-rsa ...); repeatable' -r
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from new" -s R -l recipients-file -d 'Wrap the master to the recipients listed in FILE, one per line; repeatable' -r -F
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from new" -l content-id -d 'Register a content id in the keyring (informational; any id can be packaged)' -r
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from new" -l color -d 'When to colour messages: auto honours NO_COLOR and whether stderr is a terminal' -r -f -a "auto\t''
always\t''
never\t''"
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from new" -s q -l quiet -d 'Print nothing but errors and the data asked for'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from new" -s v -l verbose -d 'Print more about what is being done (repeat for more)'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from new" -l json -d 'Print one JSON document (or JSON Lines for streams) on stdout'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from new" -l no-progress -d 'Never draw progress bars'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from new" -s h -l help -d 'Print help'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from new" -s V -l version -d 'Print version'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from show" -l content-id -d 'With --reveal: print the keys of this content id' -r
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from show" -l periods -d 'With --reveal --content-id: print the keys of these periods (A..B, inclusive)' -r
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from show" -s i -l identity -d 'An age identity file (or SSH private key) that opens the keyring; repeatable. Default: the file named by SHIELDPACK_IDENTITY, else KEYRING.identity' -r -F
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from show" -l color -d 'When to colour messages: auto honours NO_COLOR and whether stderr is a terminal' -r -f -a "auto\t''
always\t''
never\t''"
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from show" -l reveal -d 'Also print secrets: the master and, with --content-id, the content keys'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from show" -s q -l quiet -d 'Print nothing but errors and the data asked for'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from show" -s v -l verbose -d 'Print more about what is being done (repeat for more)'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from show" -l json -d 'Print one JSON document (or JSON Lines for streams) on stdout'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from show" -l no-progress -d 'Never draw progress bars'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from show" -s V -l version -d 'Print version'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from export" -l package -d 'The package whose keys to export (reads its manifest.json)' -r -F
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from export" -l format -d 'The export format' -r -f -a "key-files\t'A folder of 16-byte <kid>.key files, as an HLS key URI serves them'
ffmpeg-keyinfo\t'A folder with one FFmpeg -hls_key_info_file per key period plus its key file'
shaka\t'Shaka Packager\'s raw-key --keys string (label=:key_id=:key=,...)'
clearkey\t'W3C Clear Key JSON (base64url KIDs and keys)'
cpix\t'DASH-IF CPIX 2.3 XML with one ContentKeyPeriod per key period'"
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from export" -l periods -d 'Only these key periods (A..B, inclusive)' -r
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from export" -s o -l output -d 'Where to write the export: a folder for key-files and ffmpeg-keyinfo, a file (or - for standard output) for shaka, clearkey and cpix' -r -F
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from export" -s r -l recipient -d 'Encrypt the export with age to this recipient, so no plaintext key touches the disk; repeatable' -r
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from export" -s R -l recipients-file -d 'Encrypt the export with age to the recipients listed in FILE; repeatable' -r -F
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from export" -s i -l identity -d 'An age identity file (or SSH private key) that opens the keyring; repeatable. Default: the file named by SHIELDPACK_IDENTITY, else KEYRING.identity' -r -F
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from export" -l color -d 'When to colour messages: auto honours NO_COLOR and whether stderr is a terminal' -r -f -a "auto\t''
always\t''
never\t''"
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from export" -s a -l armor -d 'With -r/-R: write ASCII-armored age files instead of binary'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from export" -s q -l quiet -d 'Print nothing but errors and the data asked for'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from export" -s v -l verbose -d 'Print more about what is being done (repeat for more)'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from export" -l json -d 'Print one JSON document (or JSON Lines for streams) on stdout'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from export" -l no-progress -d 'Never draw progress bars'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from export" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from export" -s V -l version -d 'Print version'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from wrap" -s r -l recipient -d 'Encrypt to this age recipient (age1..., ssh-ed25519 ..., ssh-rsa ...); repeatable' -r
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from wrap" -s R -l recipients-file -d 'Encrypt to the recipients listed in FILE, one per line; repeatable' -r -F
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from wrap" -s o -l output -d 'Where to write; - or nothing is standard output (binary output to a terminal is refused unless -o - is given)' -r -F
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from wrap" -l color -d 'When to colour messages: auto honours NO_COLOR and whether stderr is a terminal' -r -f -a "auto\t''
always\t''
never\t''"
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from wrap" -s p -l passphrase -d 'Encrypt with a passphrase (scrypt) instead of recipients; read from the terminal, or from SHIELDPACK_PASSPHRASE when set'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from wrap" -s a -l armor -d 'Write PEM-style ASCII armor instead of binary'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from wrap" -l force -d 'Replace OUTPUT if it exists'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from wrap" -s q -l quiet -d 'Print nothing but errors and the data asked for'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from wrap" -s v -l verbose -d 'Print more about what is being done (repeat for more)'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from wrap" -l json -d 'Print one JSON document (or JSON Lines for streams) on stdout'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from wrap" -l no-progress -d 'Never draw progress bars'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from wrap" -s h -l help -d 'Print help'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from wrap" -s V -l version -d 'Print version'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from unwrap" -s i -l identity -d 'An age identity file or unencrypted SSH private key; repeatable. Default: the file named by SHIELDPACK_IDENTITY' -r -F
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from unwrap" -s o -l output -d 'Where to write the plaintext (created 0600); - or nothing is standard output (a terminal gets it only with an explicit -o -: keys are binary)' -r -F
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from unwrap" -l color -d 'When to colour messages: auto honours NO_COLOR and whether stderr is a terminal' -r -f -a "auto\t''
always\t''
never\t''"
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from unwrap" -l force -d 'Replace OUTPUT if it exists'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from unwrap" -s q -l quiet -d 'Print nothing but errors and the data asked for'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from unwrap" -s v -l verbose -d 'Print more about what is being done (repeat for more)'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from unwrap" -l json -d 'Print one JSON document (or JSON Lines for streams) on stdout'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from unwrap" -l no-progress -d 'Never draw progress bars'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from unwrap" -s h -l help -d 'Print help'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from unwrap" -s V -l version -d 'Print version'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from rewrap" -s r -l recipient -d 'Wrap the master to this age recipient (age1..., ssh-ed25519 ..., ssh-rsa ...); repeatable' -r
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from rewrap" -s R -l recipients-file -d 'Wrap the master to the recipients listed in FILE, one per line; repeatable' -r -F
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from rewrap" -s i -l identity -d 'An age identity file (or SSH private key) that opens the keyring; repeatable. Default: the file named by SHIELDPACK_IDENTITY, else KEYRING.identity' -r -F
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from rewrap" -l color -d 'When to colour messages: auto honours NO_COLOR and whether stderr is a terminal' -r -f -a "auto\t''
always\t''
never\t''"
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from rewrap" -s q -l quiet -d 'Print nothing but errors and the data asked for'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from rewrap" -s v -l verbose -d 'Print more about what is being done (repeat for more)'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from rewrap" -l json -d 'Print one JSON document (or JSON Lines for streams) on stdout'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from rewrap" -l no-progress -d 'Never draw progress bars'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from rewrap" -s h -l help -d 'Print help'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from rewrap" -s V -l version -d 'Print version'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from rotate" -l content-id -d 'The content id whose keys to rotate' -r
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from rotate" -l from-period -d 'The first key period that gets the new generation' -r
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from rotate" -l color -d 'When to colour messages: auto honours NO_COLOR and whether stderr is a terminal' -r -f -a "auto\t''
always\t''
never\t''"
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from rotate" -s q -l quiet -d 'Print nothing but errors and the data asked for'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from rotate" -s v -l verbose -d 'Print more about what is being done (repeat for more)'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from rotate" -l json -d 'Print one JSON document (or JSON Lines for streams) on stdout'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from rotate" -l no-progress -d 'Never draw progress bars'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from rotate" -s h -l help -d 'Print help'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from rotate" -s V -l version -d 'Print version'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from revoke" -l content-id -d 'The content id whose keys to revoke' -r
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from revoke" -l periods -d 'Revoke these key periods (A..B, inclusive; or one period N)' -r
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from revoke" -l generation -d 'Revoke every key of this generation' -r
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from revoke" -l color -d 'When to colour messages: auto honours NO_COLOR and whether stderr is a terminal' -r -f -a "auto\t''
always\t''
never\t''"
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from revoke" -s q -l quiet -d 'Print nothing but errors and the data asked for'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from revoke" -s v -l verbose -d 'Print more about what is being done (repeat for more)'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from revoke" -l json -d 'Print one JSON document (or JSON Lines for streams) on stdout'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from revoke" -l no-progress -d 'Never draw progress bars'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from revoke" -s h -l help -d 'Print help'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from revoke" -s V -l version -d 'Print version'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from help" -f -a "new" -d 'Create a keyring: a random master secret age-wrapped to recipients'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from help" -f -a "show" -d 'List a keyring\'s metadata (never a secret unless --reveal)'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from help" -f -a "export" -d 'Export the keys a package uses, for a key server, a packager or a player'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from help" -f -a "wrap" -d 'Encrypt a file with age (to recipients or a passphrase), like `age -e`'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from help" -f -a "unwrap" -d 'Decrypt an age file (armored or binary, detected), like `age -d`'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from help" -f -a "rewrap" -d 'Re-wrap a keyring\'s master to a new set of recipients (same keys, same fingerprint)'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from help" -f -a "rotate" -d 'Start a new key generation for a content id\'s periods N and later'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from help" -f -a "revoke" -d 'Mark a content id\'s periods or a key generation revoked'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand keys; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand package" -s o -l output -d 'The package folder to create' -r -F
complete -c shieldpack -n "__fish_shieldpack_using_subcommand package" -l keyring -d 'The keyring that derives the content keys (not needed with --clear or --cpix)' -r -F
complete -c shieldpack -n "__fish_shieldpack_using_subcommand package" -l cpix -d 'Take content keys, KIDs and key periods from a DRM provider\'s CPIX 2.3 document (plain, or age-wrapped to an identity given with -i) instead of a keyring; its periods must be the package\'s; it never lands in OUTDIR' -r -F
complete -c shieldpack -n "__fish_shieldpack_using_subcommand package" -s i -l identity -d 'An age identity file (or SSH private key) that opens the keyring; repeatable. Default: the file named by SHIELDPACK_IDENTITY, else KEYRING.identity' -r -F
complete -c shieldpack -n "__fish_shieldpack_using_subcommand package" -l content-id -d 'The content id keys are derived for (default: the input\'s file name, with a hash of it appended when the name is not a valid id, so names never collide); the keyring records which title each id packaged and refuses another' -r
complete -c shieldpack -n "__fish_shieldpack_using_subcommand package" -l segment-duration -d 'Target segment duration in seconds; segments are cut on keyframes' -r
complete -c shieldpack -n "__fish_shieldpack_using_subcommand package" -l rotate-every -d 'Start a new key period every DURATION of media (e.g. 30s, 5m, 1h, 90)' -r
complete -c shieldpack -n "__fish_shieldpack_using_subcommand package" -l rotate-segments -d 'Start a new key period every N segments' -r
complete -c shieldpack -n "__fish_shieldpack_using_subcommand package" -l key-uri -d 'Key URI written in EXT-X-KEY; placeholders {kid}, {period}, {content_id}' -r
complete -c shieldpack -n "__fish_shieldpack_using_subcommand package" -l iv -d 'How segment IVs are chosen (with several INPUTs always derived, per rendition: the sequence number would repeat under one key in each)' -r -f -a "sequence\t'Omit the IV attribute: the media sequence number is the IV (RFC 8216 5.2)'
derived\t'Write an explicit IV per segment, derived from the keyring'"
complete -c shieldpack -n "__fish_shieldpack_using_subcommand package" -l rotation -d 'Key rotation from a JSON config {"stream_id", "key_rotation": {"enabled", "interval_minutes", "pre_delivery_seconds", "on_compromise", "algorithm", "key_derivation"}}: the interval becomes --rotate-every; algorithm must be AES-128-CBC and key_derivation HKDF-SHA256; the other fields are recorded in manifest.json for the key server' -r -F
complete -c shieldpack -n "__fish_shieldpack_using_subcommand package" -l policy -d 'Scene protection policy: each scene starts a new segment and key period; clear scenes are not encrypted; writes OUTDIR/policy.json' -r -F
complete -c shieldpack -n "__fish_shieldpack_using_subcommand package" -l drm -d 'DRM systems to signal, comma-separated: clearkey, widevine, playready, fairplay (PSSH boxes, DASH ContentProtection, HLS EXT-X-KEY KEYFORMAT lines); they license sample encryption (cmaf cbcs/cenc, ts sample-aes for fairplay), not whole-segment AES-128' -r
complete -c shieldpack -n "__fish_shieldpack_using_subcommand package" -l license-url -d 'A DRM system\'s license server, SYSTEM=URL (repeatable); for fairplay the skd:// key URI template, with {kid} and {content_id}' -r
complete -c shieldpack -n "__fish_shieldpack_using_subcommand package" -l format -d 'Segment container: ts, or cmaf (init.mp4 + fragmented MP4 segments, every video rendition and every audio track a CMAF track of its own)' -r -f -a "ts\t'MPEG-TS segments (seg_NNNNN.ts)'
cmaf\t'CMAF: init.mp4 and fragmented MP4 segments (seg_NNNNN.m4s), HLS with EXT-X-MAP'"
complete -c shieldpack -n "__fish_shieldpack_using_subcommand package" -l scheme -d 'Encryption scheme; default aes-128 for ts, cbcs for cmaf' -r -f -a "aes-128\t'Whole-segment AES-128-CBC, HLS METHOD=AES-128 (ts default; cmaf too)'
sample-aes\t'HLS SAMPLE-AES for MPEG-TS (H.264 slices, AAC frames; explicit IVs)'
cbcs\t'Common encryption, AES-CBC 1:9 pattern (cmaf default)'
cenc\t'Common encryption, AES-CTR with per-sample IVs (cmaf)'"
complete -c shieldpack -n "__fish_shieldpack_using_subcommand package" -l key-scope -d 'Keys per period: one for the whole title, or one for each track type (AUDIO, SD up to 768x576 pixels, HD up to 1920x1080, UHD above), as DRM key servers issue them; track-type needs {kid} in --key-uri' -r -f -a "period\t'One key per period for the whole title'
track-type\t'A key per period for each of AUDIO, SD, HD and UHD'"
complete -c shieldpack -n "__fish_shieldpack_using_subcommand package" -l ladder -d 'Transcode INPUT into an aligned H.264 ladder and package every rung as a rendition: HEIGHTp:BITRATEk,... (e.g. 1080p:6000k,720p:3000k,360p:800k), `apple` (the HLS authoring specification\'s ladder, capped at the source\'s height) or `auto` (rungs and bit rates from a fast complexity probe of this title); INPUT is decoded once, keyframes are forced at the cuts' -r
complete -c shieldpack -n "__fish_shieldpack_using_subcommand package" -l ab-watermark -d 'Session forensics: re-encode the video twice, variants a and b of every segment (seg_NNNNN.a.ts, .b.ts; .m4s with --format cmaf) each marked with this watermark key, the variant and the segment index; `shieldpack session` then gives every session its own mix' -r -F
complete -c shieldpack -n "__fish_shieldpack_using_subcommand package" -l ab-crf -d 'libx264 constant rate factor of the A/B re-encode' -r
complete -c shieldpack -n "__fish_shieldpack_using_subcommand package" -l ab-preset -d 'libx264 preset of the A/B re-encode (ultrafast ... veryslow)' -r
complete -c shieldpack -n "__fish_shieldpack_using_subcommand package" -l color -d 'When to colour messages: auto honours NO_COLOR and whether stderr is a terminal' -r -f -a "auto\t''
always\t''
never\t''"
complete -c shieldpack -n "__fish_shieldpack_using_subcommand package" -l clear -d 'Package without encryption (no keyring needed)'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand package" -l apple -d 'Refuse input that breaks Apple\'s HLS Authoring Specification (HEVC, which Apple wants in fMP4 not TS; H.264 above High@4.2; interlaced video), naming the rule; without it, such input gets a warning'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand package" -l dash -d 'With --format cmaf: also write a DASH manifest.mpd over the same segments (one AdaptationSet per content type, a Representation per rendition; WebVTT subtitles as one subs-<lang>/subs.vtt each)'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand package" -l force -d 'Replace OUTDIR if it exists and is not empty'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand package" -l reuse-content-id -d 'Package even if the keyring already packaged a different title under this content id (both then share its keys and IVs: only for the same title)'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand package" -s q -l quiet -d 'Print nothing but errors and the data asked for'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand package" -s v -l verbose -d 'Print more about what is being done (repeat for more)'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand package" -l json -d 'Print one JSON document (or JSON Lines for streams) on stdout'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand package" -l no-progress -d 'Never draw progress bars'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand package" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand package" -s V -l version -d 'Print version'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand batch" -s o -l output -d 'The folder that receives one package folder per title, and batch-report.json' -r -F
complete -c shieldpack -n "__fish_shieldpack_using_subcommand batch" -l keyring -d 'The keyring that derives the content keys (not needed with --clear)' -r -F
complete -c shieldpack -n "__fish_shieldpack_using_subcommand batch" -s i -l identity -d 'An age identity file (or SSH private key) that opens the keyring; repeatable. Default: the file named by SHIELDPACK_IDENTITY, else KEYRING.identity' -r -F
complete -c shieldpack -n "__fish_shieldpack_using_subcommand batch" -s j -l jobs -d 'How many titles to package at once (default: the number of cores)' -r
complete -c shieldpack -n "__fish_shieldpack_using_subcommand batch" -l shard -d 'Take only shard I of N (0-based): a stable partition by a hash of the content id, e.g. --shard $JOB_COMPLETION_INDEX/8 in a Kubernetes Indexed Job' -r
complete -c shieldpack -n "__fish_shieldpack_using_subcommand batch" -l include -d 'Only titles whose path relative to CATALOG matches GLOB (`*` also matches `/`); repeatable' -r
complete -c shieldpack -n "__fish_shieldpack_using_subcommand batch" -l exclude -d 'Leave out titles whose path relative to CATALOG matches GLOB; repeatable' -r
complete -c shieldpack -n "__fish_shieldpack_using_subcommand batch" -l segment-duration -d 'Target segment duration in seconds; segments are cut on keyframes' -r
complete -c shieldpack -n "__fish_shieldpack_using_subcommand batch" -l rotate-every -d 'Start a new key period every DURATION of media (e.g. 30s, 5m, 1h, 90)' -r
complete -c shieldpack -n "__fish_shieldpack_using_subcommand batch" -l rotate-segments -d 'Start a new key period every N segments' -r
complete -c shieldpack -n "__fish_shieldpack_using_subcommand batch" -l key-uri -d 'Key URI written in EXT-X-KEY; placeholders {kid}, {period}, {content_id}' -r
complete -c shieldpack -n "__fish_shieldpack_using_subcommand batch" -l iv -d 'How segment IVs are chosen (with several INPUTs always derived, per rendition: the sequence number would repeat under one key in each)' -r -f -a "sequence\t'Omit the IV attribute: the media sequence number is the IV (RFC 8216 5.2)'
derived\t'Write an explicit IV per segment, derived from the keyring'"
complete -c shieldpack -n "__fish_shieldpack_using_subcommand batch" -l rotation -d 'Key rotation from a JSON config {"stream_id", "key_rotation": {"enabled", "interval_minutes", "pre_delivery_seconds", "on_compromise", "algorithm", "key_derivation"}}: the interval becomes --rotate-every; algorithm must be AES-128-CBC and key_derivation HKDF-SHA256; the other fields are recorded in manifest.json for the key server' -r -F
complete -c shieldpack -n "__fish_shieldpack_using_subcommand batch" -l policy -d 'Scene protection policy: each scene starts a new segment and key period; clear scenes are not encrypted; writes OUTDIR/policy.json' -r -F
complete -c shieldpack -n "__fish_shieldpack_using_subcommand batch" -l drm -d 'DRM systems to signal, comma-separated: clearkey, widevine, playready, fairplay (PSSH boxes, DASH ContentProtection, HLS EXT-X-KEY KEYFORMAT lines); they license sample encryption (cmaf cbcs/cenc, ts sample-aes for fairplay), not whole-segment AES-128' -r
complete -c shieldpack -n "__fish_shieldpack_using_subcommand batch" -l license-url -d 'A DRM system\'s license server, SYSTEM=URL (repeatable); for fairplay the skd:// key URI template, with {kid} and {content_id}' -r
complete -c shieldpack -n "__fish_shieldpack_using_subcommand batch" -l format -d 'Segment container: ts, or cmaf (init.mp4 + fragmented MP4 segments, every video rendition and every audio track a CMAF track of its own)' -r -f -a "ts\t'MPEG-TS segments (seg_NNNNN.ts)'
cmaf\t'CMAF: init.mp4 and fragmented MP4 segments (seg_NNNNN.m4s), HLS with EXT-X-MAP'"
complete -c shieldpack -n "__fish_shieldpack_using_subcommand batch" -l scheme -d 'Encryption scheme; default aes-128 for ts, cbcs for cmaf' -r -f -a "aes-128\t'Whole-segment AES-128-CBC, HLS METHOD=AES-128 (ts default; cmaf too)'
sample-aes\t'HLS SAMPLE-AES for MPEG-TS (H.264 slices, AAC frames; explicit IVs)'
cbcs\t'Common encryption, AES-CBC 1:9 pattern (cmaf default)'
cenc\t'Common encryption, AES-CTR with per-sample IVs (cmaf)'"
complete -c shieldpack -n "__fish_shieldpack_using_subcommand batch" -l key-scope -d 'Keys per period: one for the whole title, or one for each track type (AUDIO, SD up to 768x576 pixels, HD up to 1920x1080, UHD above), as DRM key servers issue them; track-type needs {kid} in --key-uri' -r -f -a "period\t'One key per period for the whole title'
track-type\t'A key per period for each of AUDIO, SD, HD and UHD'"
complete -c shieldpack -n "__fish_shieldpack_using_subcommand batch" -l ladder -d 'Transcode every title into an aligned H.264 ladder and package every rung as a rendition, as `package --ladder SPEC` does (HEIGHTp:BITRATEk,..., `apple`, or `auto`, which picks a ladder per title)' -r
complete -c shieldpack -n "__fish_shieldpack_using_subcommand batch" -l color -d 'When to colour messages: auto honours NO_COLOR and whether stderr is a terminal' -r -f -a "auto\t''
always\t''
never\t''"
complete -c shieldpack -n "__fish_shieldpack_using_subcommand batch" -l follow-links -d 'Also package what symlinks lead to outside CATALOG (by default such a file is a failed title and such a folder is not entered)'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand batch" -l dry-run -d 'List the titles this shard takes and what would be done, without packaging'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand batch" -l force -d 'Repackage every title, even those that are finished and unchanged'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand batch" -l clear -d 'Package without encryption (no keyring needed)'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand batch" -l apple -d 'Refuse input that breaks Apple\'s HLS Authoring Specification (HEVC, which Apple wants in fMP4 not TS; H.264 above High@4.2; interlaced video), naming the rule; without it, such input gets a warning'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand batch" -l dash -d 'With --format cmaf: also write a DASH manifest.mpd over the same segments (one AdaptationSet per content type, a Representation per rendition; WebVTT subtitles as one subs-<lang>/subs.vtt each)'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand batch" -s q -l quiet -d 'Print nothing but errors and the data asked for'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand batch" -s v -l verbose -d 'Print more about what is being done (repeat for more)'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand batch" -l json -d 'Print one JSON document (or JSON Lines for streams) on stdout'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand batch" -l no-progress -d 'Never draw progress bars'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand batch" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand batch" -s V -l version -d 'Print version'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand verify" -l keyring -d 'Check key generations and revocations against this keyring and, when an identity opens it (and --keys is not given), that every segment decrypts' -r -F
complete -c shieldpack -n "__fish_shieldpack_using_subcommand verify" -s i -l identity -d 'An age identity file (or SSH private key) that opens the keyring; repeatable. Default: the file named by SHIELDPACK_IDENTITY, else KEYRING.identity' -r -F
complete -c shieldpack -n "__fish_shieldpack_using_subcommand verify" -l keys -d 'Read keys from a folder of <kid>.key files and check that every segment decrypts' -r -F
complete -c shieldpack -n "__fish_shieldpack_using_subcommand verify" -l color -d 'When to colour messages: auto honours NO_COLOR and whether stderr is a terminal' -r -f -a "auto\t''
always\t''
never\t''"
complete -c shieldpack -n "__fish_shieldpack_using_subcommand verify" -s q -l quiet -d 'Print nothing but errors and the data asked for'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand verify" -s v -l verbose -d 'Print more about what is being done (repeat for more)'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand verify" -l json -d 'Print one JSON document (or JSON Lines for streams) on stdout'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand verify" -l no-progress -d 'Never draw progress bars'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand verify" -s h -l help -d 'Print help'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand verify" -s V -l version -d 'Print version'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand policy; and not __fish_seen_subcommand_from check detect help" -l color -d 'When to colour messages: auto honours NO_COLOR and whether stderr is a terminal' -r -f -a "auto\t''
always\t''
never\t''"
complete -c shieldpack -n "__fish_shieldpack_using_subcommand policy; and not __fish_seen_subcommand_from check detect help" -s q -l quiet -d 'Print nothing but errors and the data asked for'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand policy; and not __fish_seen_subcommand_from check detect help" -s v -l verbose -d 'Print more about what is being done (repeat for more)'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand policy; and not __fish_seen_subcommand_from check detect help" -l json -d 'Print one JSON document (or JSON Lines for streams) on stdout'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand policy; and not __fish_seen_subcommand_from check detect help" -l no-progress -d 'Never draw progress bars'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand policy; and not __fish_seen_subcommand_from check detect help" -s h -l help -d 'Print help'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand policy; and not __fish_seen_subcommand_from check detect help" -s V -l version -d 'Print version'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand policy; and not __fish_seen_subcommand_from check detect help" -f -a "check" -d 'Validate a policy file; errors are reported as FILE:LINE:COLUMN (exit 2)'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand policy; and not __fish_seen_subcommand_from check detect help" -f -a "detect" -d 'Detect shots by decoding a video, and write a policy with one scene per shot'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand policy; and not __fish_seen_subcommand_from check detect help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand policy; and __fish_seen_subcommand_from check" -l media -d 'Also check that no scene runs past the end of this media file' -r -F
complete -c shieldpack -n "__fish_shieldpack_using_subcommand policy; and __fish_seen_subcommand_from check" -l color -d 'When to colour messages: auto honours NO_COLOR and whether stderr is a terminal' -r -f -a "auto\t''
always\t''
never\t''"
complete -c shieldpack -n "__fish_shieldpack_using_subcommand policy; and __fish_seen_subcommand_from check" -s q -l quiet -d 'Print nothing but errors and the data asked for'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand policy; and __fish_seen_subcommand_from check" -s v -l verbose -d 'Print more about what is being done (repeat for more)'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand policy; and __fish_seen_subcommand_from check" -l json -d 'Print one JSON document (or JSON Lines for streams) on stdout'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand policy; and __fish_seen_subcommand_from check" -l no-progress -d 'Never draw progress bars'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand policy; and __fish_seen_subcommand_from check" -s h -l help -d 'Print help'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand policy; and __fish_seen_subcommand_from check" -s V -l version -d 'Print version'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand policy; and __fish_seen_subcommand_from detect" -s o -l output -d 'Where to write the policy (refuses to overwrite without --force)' -r -F
complete -c shieldpack -n "__fish_shieldpack_using_subcommand policy; and __fish_seen_subcommand_from detect" -l threshold -d 'Cut score (0..1) a frame must reach to start a new shot; lower finds more cuts' -r
complete -c shieldpack -n "__fish_shieldpack_using_subcommand policy; and __fish_seen_subcommand_from detect" -l min-scene -d 'Shots shorter than this many seconds are merged (flashes are dropped)' -r
complete -c shieldpack -n "__fish_shieldpack_using_subcommand policy; and __fish_seen_subcommand_from detect" -l level -d 'The drm_level every scene gets' -r -f -a "clear\t'Not encrypted (EXT-X-KEY METHOD=NONE)'
L3\t'Software DRM'
L2\t'Crypto in a trusted environment, software decode'
L1\t'Crypto and decode in a trusted environment'"
complete -c shieldpack -n "__fish_shieldpack_using_subcommand policy; and __fish_seen_subcommand_from detect" -l color -d 'When to colour messages: auto honours NO_COLOR and whether stderr is a terminal' -r -f -a "auto\t''
always\t''
never\t''"
complete -c shieldpack -n "__fish_shieldpack_using_subcommand policy; and __fish_seen_subcommand_from detect" -l force -d 'Replace POLICY if it exists'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand policy; and __fish_seen_subcommand_from detect" -s q -l quiet -d 'Print nothing but errors and the data asked for'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand policy; and __fish_seen_subcommand_from detect" -s v -l verbose -d 'Print more about what is being done (repeat for more)'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand policy; and __fish_seen_subcommand_from detect" -l json -d 'Print one JSON document (or JSON Lines for streams) on stdout'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand policy; and __fish_seen_subcommand_from detect" -l no-progress -d 'Never draw progress bars'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand policy; and __fish_seen_subcommand_from detect" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand policy; and __fish_seen_subcommand_from detect" -s V -l version -d 'Print version'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand policy; and __fish_seen_subcommand_from help" -f -a "check" -d 'Validate a policy file; errors are reported as FILE:LINE:COLUMN (exit 2)'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand policy; and __fish_seen_subcommand_from help" -f -a "detect" -d 'Detect shots by decoding a video, and write a policy with one scene per shot'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand policy; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand inspect" -l color -d 'When to colour messages: auto honours NO_COLOR and whether stderr is a terminal' -r -f -a "auto\t''
always\t''
never\t''"
complete -c shieldpack -n "__fish_shieldpack_using_subcommand inspect" -s q -l quiet -d 'Print nothing but errors and the data asked for'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand inspect" -s v -l verbose -d 'Print more about what is being done (repeat for more)'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand inspect" -l json -d 'Print one JSON document (or JSON Lines for streams) on stdout'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand inspect" -l no-progress -d 'Never draw progress bars'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand inspect" -s h -l help -d 'Print help'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand inspect" -s V -l version -d 'Print version'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand rekey" -l keyring -d 'The keyring the package was made with' -r -F
complete -c shieldpack -n "__fish_shieldpack_using_subcommand rekey" -s i -l identity -d 'An age identity file (or SSH private key) that opens the keyring; repeatable. Default: the file named by SHIELDPACK_IDENTITY, else KEYRING.identity' -r -F
complete -c shieldpack -n "__fish_shieldpack_using_subcommand rekey" -l jobs -d 'Worker threads (default: up to 2)' -r
complete -c shieldpack -n "__fish_shieldpack_using_subcommand rekey" -l color -d 'When to colour messages: auto honours NO_COLOR and whether stderr is a terminal' -r -f -a "auto\t''
always\t''
never\t''"
complete -c shieldpack -n "__fish_shieldpack_using_subcommand rekey" -l no-hash-check -d 'Do not check each segment against its manifest SHA-256 before re-encrypting it (about a fifth faster; a damaged segment then gets a fresh hash, and only `verify` with keys can still catch it)'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand rekey" -s q -l quiet -d 'Print nothing but errors and the data asked for'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand rekey" -s v -l verbose -d 'Print more about what is being done (repeat for more)'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand rekey" -l json -d 'Print one JSON document (or JSON Lines for streams) on stdout'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand rekey" -l no-progress -d 'Never draw progress bars'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand rekey" -s h -l help -d 'Print help'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand rekey" -s V -l version -d 'Print version'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and not __fish_seen_subcommand_from keygen embed extract trace help" -l color -d 'When to colour messages: auto honours NO_COLOR and whether stderr is a terminal' -r -f -a "auto\t''
always\t''
never\t''"
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and not __fish_seen_subcommand_from keygen embed extract trace help" -s q -l quiet -d 'Print nothing but errors and the data asked for'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and not __fish_seen_subcommand_from keygen embed extract trace help" -s v -l verbose -d 'Print more about what is being done (repeat for more)'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and not __fish_seen_subcommand_from keygen embed extract trace help" -l json -d 'Print one JSON document (or JSON Lines for streams) on stdout'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and not __fish_seen_subcommand_from keygen embed extract trace help" -l no-progress -d 'Never draw progress bars'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and not __fish_seen_subcommand_from keygen embed extract trace help" -s h -l help -d 'Print help'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and not __fish_seen_subcommand_from keygen embed extract trace help" -s V -l version -d 'Print version'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and not __fish_seen_subcommand_from keygen embed extract trace help" -f -a "keygen" -d 'Create a watermark key: a random secret written with mode 0600'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and not __fish_seen_subcommand_from keygen embed extract trace help" -f -a "embed" -d 'Mark a video with a payload: decode, add a keyed mark to the luma, re-encode H.264'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and not __fish_seen_subcommand_from keygen embed extract trace help" -f -a "extract" -d 'Read a mark blind from a clip: the payload and its false-alarm probability'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and not __fish_seen_subcommand_from keygen embed extract trace help" -f -a "trace" -d 'Name the sessions a leaked recording of an A/B package came from'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and not __fish_seen_subcommand_from keygen embed extract trace help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and __fish_seen_subcommand_from keygen" -s o -l output -d 'Where to write the key (refuses to overwrite)' -r -F
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and __fish_seen_subcommand_from keygen" -l color -d 'When to colour messages: auto honours NO_COLOR and whether stderr is a terminal' -r -f -a "auto\t''
always\t''
never\t''"
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and __fish_seen_subcommand_from keygen" -s q -l quiet -d 'Print nothing but errors and the data asked for'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and __fish_seen_subcommand_from keygen" -s v -l verbose -d 'Print more about what is being done (repeat for more)'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and __fish_seen_subcommand_from keygen" -l json -d 'Print one JSON document (or JSON Lines for streams) on stdout'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and __fish_seen_subcommand_from keygen" -l no-progress -d 'Never draw progress bars'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and __fish_seen_subcommand_from keygen" -s h -l help -d 'Print help'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and __fish_seen_subcommand_from keygen" -s V -l version -d 'Print version'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and __fish_seen_subcommand_from embed" -s o -l output -d 'The marked video to write (.mp4, .mkv, .mov, .ts)' -r -F
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and __fish_seen_subcommand_from embed" -l wm-key -d 'The watermark key (from `shieldpack watermark keygen`)' -r -F
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and __fish_seen_subcommand_from embed" -l payload -d 'The payload to embed: 1 to 16 hex digits (up to 64 bits)' -r
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and __fish_seen_subcommand_from embed" -l mark-psnr -d 'Luma PSNR of the mark alone, in dB (40 to 56): higher is fainter and reads less well after heavy attacks (CRF 40, reframing plus CRF 30)' -r
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and __fish_seen_subcommand_from embed" -l crf -d 'libx264 constant rate factor of the re-encode (lower is better quality)' -r
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and __fish_seen_subcommand_from embed" -l preset -d 'libx264 preset of the re-encode (ultrafast ... veryslow)' -r
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and __fish_seen_subcommand_from embed" -l color -d 'When to colour messages: auto honours NO_COLOR and whether stderr is a terminal' -r -f -a "auto\t''
always\t''
never\t''"
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and __fish_seen_subcommand_from embed" -l force -d 'Replace OUTPUT if it exists'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and __fish_seen_subcommand_from embed" -s q -l quiet -d 'Print nothing but errors and the data asked for'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and __fish_seen_subcommand_from embed" -s v -l verbose -d 'Print more about what is being done (repeat for more)'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and __fish_seen_subcommand_from embed" -l json -d 'Print one JSON document (or JSON Lines for streams) on stdout'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and __fish_seen_subcommand_from embed" -l no-progress -d 'Never draw progress bars'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and __fish_seen_subcommand_from embed" -s h -l help -d 'Print help'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and __fish_seen_subcommand_from embed" -s V -l version -d 'Print version'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and __fish_seen_subcommand_from extract" -l wm-key -d 'The watermark key the mark was embedded with' -r -F
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and __fish_seen_subcommand_from extract" -l threshold-log10 -d 'Report a mark only when log10 of its false-alarm probability is at most this' -r
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and __fish_seen_subcommand_from extract" -l max-seconds -d 'Read at most this many seconds of the clip' -r
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and __fish_seen_subcommand_from extract" -l color -d 'When to colour messages: auto honours NO_COLOR and whether stderr is a terminal' -r -f -a "auto\t''
always\t''
never\t''"
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and __fish_seen_subcommand_from extract" -l perspective -d 'Also search the shears a perspective warp of a few percent gives (a camcorder\'s leak): about twice the time on a clip whose mark is not found at once, and every shear tried counts in log10 p'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and __fish_seen_subcommand_from extract" -s q -l quiet -d 'Print nothing but errors and the data asked for'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and __fish_seen_subcommand_from extract" -s v -l verbose -d 'Print more about what is being done (repeat for more)'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and __fish_seen_subcommand_from extract" -l json -d 'Print one JSON document (or JSON Lines for streams) on stdout'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and __fish_seen_subcommand_from extract" -l no-progress -d 'Never draw progress bars'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and __fish_seen_subcommand_from extract" -s h -l help -d 'Print help'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and __fish_seen_subcommand_from extract" -s V -l version -d 'Print version'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and __fish_seen_subcommand_from trace" -l package -d 'The A/B package the sessions were served from' -r -F
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and __fish_seen_subcommand_from trace" -l wm-key -d 'The watermark key given to `package --ab-watermark`' -r -F
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and __fish_seen_subcommand_from trace" -l sessions -d 'The session ids to score, one a line' -r -F
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and __fish_seen_subcommand_from trace" -l session-count -d 'Score N generated ids (session-0000000 ...) as well, for benchmarks' -r
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and __fish_seen_subcommand_from trace" -l threshold-log10 -d 'Accuse a session when log10 of the chance that any innocent scores as high is at most this' -r
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and __fish_seen_subcommand_from trace" -l window -d 'Seconds of the leak read per window (about one segment)' -r
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and __fish_seen_subcommand_from trace" -l color -d 'When to colour messages: auto honours NO_COLOR and whether stderr is a terminal' -r -f -a "auto\t''
always\t''
never\t''"
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and __fish_seen_subcommand_from trace" -s q -l quiet -d 'Print nothing but errors and the data asked for'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and __fish_seen_subcommand_from trace" -s v -l verbose -d 'Print more about what is being done (repeat for more)'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and __fish_seen_subcommand_from trace" -l json -d 'Print one JSON document (or JSON Lines for streams) on stdout'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and __fish_seen_subcommand_from trace" -l no-progress -d 'Never draw progress bars'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and __fish_seen_subcommand_from trace" -s h -l help -d 'Print help'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and __fish_seen_subcommand_from trace" -s V -l version -d 'Print version'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and __fish_seen_subcommand_from help" -f -a "keygen" -d 'Create a watermark key: a random secret written with mode 0600'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and __fish_seen_subcommand_from help" -f -a "embed" -d 'Mark a video with a payload: decode, add a keyed mark to the luma, re-encode H.264'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and __fish_seen_subcommand_from help" -f -a "extract" -d 'Read a mark blind from a clip: the payload and its false-alarm probability'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and __fish_seen_subcommand_from help" -f -a "trace" -d 'Name the sessions a leaked recording of an A/B package came from'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand watermark; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand serve" -l keys -d 'Key files (<kid>.key, as `keys export --format key-files` writes them) to answer the package\'s key URIs with, and ClearKey licenses for DASH' -r -F
complete -c shieldpack -n "__fish_shieldpack_using_subcommand serve" -l port -d 'The port to listen on (0: any free port; the URL printed says which)' -r
complete -c shieldpack -n "__fish_shieldpack_using_subcommand serve" -l bind -d 'The address to listen on: loopback only (127.0.0.1, ::1 or localhost); any other is refused, since the server hands out keys' -r
complete -c shieldpack -n "__fish_shieldpack_using_subcommand serve" -l color -d 'When to colour messages: auto honours NO_COLOR and whether stderr is a terminal' -r -f -a "auto\t''
always\t''
never\t''"
complete -c shieldpack -n "__fish_shieldpack_using_subcommand serve" -s q -l quiet -d 'Print nothing but errors and the data asked for'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand serve" -s v -l verbose -d 'Print more about what is being done (repeat for more)'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand serve" -l json -d 'Print one JSON document (or JSON Lines for streams) on stdout'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand serve" -l no-progress -d 'Never draw progress bars'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand serve" -s h -l help -d 'Print help'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand serve" -s V -l version -d 'Print version'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand session; and not __fish_seen_subcommand_from variant verify-url help" -l session -d 'Session ids to write playlists for' -r
complete -c shieldpack -n "__fish_shieldpack_using_subcommand session; and not __fish_seen_subcommand_from variant verify-url help" -l sessions -d 'A file of session ids, one a line' -r -F
complete -c shieldpack -n "__fish_shieldpack_using_subcommand session; and not __fish_seen_subcommand_from variant verify-url help" -s o -l output -d 'The folder to write one playlist per session into (ID.m3u8)' -r -F
complete -c shieldpack -n "__fish_shieldpack_using_subcommand session; and not __fish_seen_subcommand_from variant verify-url help" -l wm-key -d 'The watermark key given to `package --ab-watermark` (the code is derived from it). Default: the code sealed in the package (session-code.age), opened with -i' -r -F
complete -c shieldpack -n "__fish_shieldpack_using_subcommand session; and not __fish_seen_subcommand_from variant verify-url help" -s i -l identity -d 'The identity that opens the package\'s keyring, to open the code sealed in the package; repeatable. Default: the file named by SHIELDPACK_IDENTITY' -r -F
complete -c shieldpack -n "__fish_shieldpack_using_subcommand session; and not __fish_seen_subcommand_from variant verify-url help" -l base-url -d 'Where the package is served: URIs are written as BASE + the path in the package (default: the package\'s path relative to DIR)' -r
complete -c shieldpack -n "__fish_shieldpack_using_subcommand session; and not __fish_seen_subcommand_from variant verify-url help" -l sign-key -d 'Sign every segment and key URI with this HMAC key (32 to 128 hex digits); needs --base-url naming the served path (/path/ or https://host/path/)' -r -F
complete -c shieldpack -n "__fish_shieldpack_using_subcommand session; and not __fish_seen_subcommand_from variant verify-url help" -l expires -d 'How long signed URIs stay valid (e.g. 2m, 90s, 1h)' -r
complete -c shieldpack -n "__fish_shieldpack_using_subcommand session; and not __fish_seen_subcommand_from variant verify-url help" -l token -d 'The token format of signed URIs' -r -f -a "edgeauth\t'Akamai EdgeAuth (`__token__=st=..~exp=..~id=..~hmac=..`, url mode)'
jwt\t'JWT HS256 (`token=`), claims exp, iat, path, sid'"
complete -c shieldpack -n "__fish_shieldpack_using_subcommand session; and not __fish_seen_subcommand_from variant verify-url help" -l color -d 'When to colour messages: auto honours NO_COLOR and whether stderr is a terminal' -r -f -a "auto\t''
always\t''
never\t''"
complete -c shieldpack -n "__fish_shieldpack_using_subcommand session; and not __fish_seen_subcommand_from variant verify-url help" -l force -d 'Replace playlists that exist'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand session; and not __fish_seen_subcommand_from variant verify-url help" -s q -l quiet -d 'Print nothing but errors and the data asked for'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand session; and not __fish_seen_subcommand_from variant verify-url help" -s v -l verbose -d 'Print more about what is being done (repeat for more)'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand session; and not __fish_seen_subcommand_from variant verify-url help" -l json -d 'Print one JSON document (or JSON Lines for streams) on stdout'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand session; and not __fish_seen_subcommand_from variant verify-url help" -l no-progress -d 'Never draw progress bars'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand session; and not __fish_seen_subcommand_from variant verify-url help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand session; and not __fish_seen_subcommand_from variant verify-url help" -s V -l version -d 'Print version'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand session; and not __fish_seen_subcommand_from variant verify-url help" -a "variant" -d 'Print the variant (a or b) a session gets for one segment, for an edge function that picks variants itself'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand session; and not __fish_seen_subcommand_from variant verify-url help" -a "verify-url" -d 'Check a signed URL as a CDN or key server would (exit 1 when refused)'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand session; and not __fish_seen_subcommand_from variant verify-url help" -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand session; and __fish_seen_subcommand_from variant" -l session -d 'The session id' -r
complete -c shieldpack -n "__fish_shieldpack_using_subcommand session; and __fish_seen_subcommand_from variant" -l segment -d 'The segment index (0 is the first segment of the playlist)' -r
complete -c shieldpack -n "__fish_shieldpack_using_subcommand session; and __fish_seen_subcommand_from variant" -l wm-key -d 'The watermark key given to `package --ab-watermark`. Default: the code sealed in the package, opened with -i' -r -F
complete -c shieldpack -n "__fish_shieldpack_using_subcommand session; and __fish_seen_subcommand_from variant" -s i -l identity -d 'The identity that opens the package\'s keyring; repeatable. Default: the file named by SHIELDPACK_IDENTITY' -r -F
complete -c shieldpack -n "__fish_shieldpack_using_subcommand session; and __fish_seen_subcommand_from variant" -l color -d 'When to colour messages: auto honours NO_COLOR and whether stderr is a terminal' -r -f -a "auto\t''
always\t''
never\t''"
complete -c shieldpack -n "__fish_shieldpack_using_subcommand session; and __fish_seen_subcommand_from variant" -s q -l quiet -d 'Print nothing but errors and the data asked for'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand session; and __fish_seen_subcommand_from variant" -s v -l verbose -d 'Print more about what is being done (repeat for more)'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand session; and __fish_seen_subcommand_from variant" -l json -d 'Print one JSON document (or JSON Lines for streams) on stdout'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand session; and __fish_seen_subcommand_from variant" -l no-progress -d 'Never draw progress bars'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand session; and __fish_seen_subcommand_from variant" -s h -l help -d 'Print help'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand session; and __fish_seen_subcommand_from variant" -s V -l version -d 'Print version'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand session; and __fish_seen_subcommand_from verify-url" -l sign-key -d 'The HMAC key the URL was signed with' -r -F
complete -c shieldpack -n "__fish_shieldpack_using_subcommand session; and __fish_seen_subcommand_from verify-url" -l at -d 'Check at this Unix time instead of now (to replay a log)' -r
complete -c shieldpack -n "__fish_shieldpack_using_subcommand session; and __fish_seen_subcommand_from verify-url" -l color -d 'When to colour messages: auto honours NO_COLOR and whether stderr is a terminal' -r -f -a "auto\t''
always\t''
never\t''"
complete -c shieldpack -n "__fish_shieldpack_using_subcommand session; and __fish_seen_subcommand_from verify-url" -s q -l quiet -d 'Print nothing but errors and the data asked for'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand session; and __fish_seen_subcommand_from verify-url" -s v -l verbose -d 'Print more about what is being done (repeat for more)'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand session; and __fish_seen_subcommand_from verify-url" -l json -d 'Print one JSON document (or JSON Lines for streams) on stdout'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand session; and __fish_seen_subcommand_from verify-url" -l no-progress -d 'Never draw progress bars'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand session; and __fish_seen_subcommand_from verify-url" -s h -l help -d 'Print help'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand session; and __fish_seen_subcommand_from verify-url" -s V -l version -d 'Print version'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand session; and __fish_seen_subcommand_from help" -f -a "variant" -d 'Print the variant (a or b) a session gets for one segment, for an edge function that picks variants itself'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand session; and __fish_seen_subcommand_from help" -f -a "verify-url" -d 'Check a signed URL as a CDN or key server would (exit 1 when refused)'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand session; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand generate; and not __fish_seen_subcommand_from man completions help" -l color -d 'When to colour messages: auto honours NO_COLOR and whether stderr is a terminal' -r -f -a "auto\t''
always\t''
never\t''"
complete -c shieldpack -n "__fish_shieldpack_using_subcommand generate; and not __fish_seen_subcommand_from man completions help" -s q -l quiet -d 'Print nothing but errors and the data asked for'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand generate; and not __fish_seen_subcommand_from man completions help" -s v -l verbose -d 'Print more about what is being done (repeat for more)'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand generate; and not __fish_seen_subcommand_from man completions help" -l json -d 'Print one JSON document (or JSON Lines for streams) on stdout'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand generate; and not __fish_seen_subcommand_from man completions help" -l no-progress -d 'Never draw progress bars'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand generate; and not __fish_seen_subcommand_from man completions help" -s h -l help -d 'Print help'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand generate; and not __fish_seen_subcommand_from man completions help" -s V -l version -d 'Print version'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand generate; and not __fish_seen_subcommand_from man completions help" -f -a "man" -d 'Write man pages for every command into DIR'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand generate; and not __fish_seen_subcommand_from man completions help" -f -a "completions" -d 'Print a completion script for SHELL on stdout'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand generate; and not __fish_seen_subcommand_from man completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand generate; and __fish_seen_subcommand_from man" -l color -d 'When to colour messages: auto honours NO_COLOR and whether stderr is a terminal' -r -f -a "auto\t''
always\t''
never\t''"
complete -c shieldpack -n "__fish_shieldpack_using_subcommand generate; and __fish_seen_subcommand_from man" -s q -l quiet -d 'Print nothing but errors and the data asked for'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand generate; and __fish_seen_subcommand_from man" -s v -l verbose -d 'Print more about what is being done (repeat for more)'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand generate; and __fish_seen_subcommand_from man" -l json -d 'Print one JSON document (or JSON Lines for streams) on stdout'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand generate; and __fish_seen_subcommand_from man" -l no-progress -d 'Never draw progress bars'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand generate; and __fish_seen_subcommand_from man" -s h -l help -d 'Print help'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand generate; and __fish_seen_subcommand_from man" -s V -l version -d 'Print version'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand generate; and __fish_seen_subcommand_from completions" -l color -d 'When to colour messages: auto honours NO_COLOR and whether stderr is a terminal' -r -f -a "auto\t''
always\t''
never\t''"
complete -c shieldpack -n "__fish_shieldpack_using_subcommand generate; and __fish_seen_subcommand_from completions" -s q -l quiet -d 'Print nothing but errors and the data asked for'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand generate; and __fish_seen_subcommand_from completions" -s v -l verbose -d 'Print more about what is being done (repeat for more)'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand generate; and __fish_seen_subcommand_from completions" -l json -d 'Print one JSON document (or JSON Lines for streams) on stdout'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand generate; and __fish_seen_subcommand_from completions" -l no-progress -d 'Never draw progress bars'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand generate; and __fish_seen_subcommand_from completions" -s h -l help -d 'Print help'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand generate; and __fish_seen_subcommand_from completions" -s V -l version -d 'Print version'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand generate; and __fish_seen_subcommand_from help" -f -a "man" -d 'Write man pages for every command into DIR'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand generate; and __fish_seen_subcommand_from help" -f -a "completions" -d 'Print a completion script for SHELL on stdout'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand generate; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand help; and not __fish_seen_subcommand_from keys package batch verify policy inspect rekey watermark serve session generate help" -f -a "keys" -d 'Create, inspect and export keyrings and content keys'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand help; and not __fish_seen_subcommand_from keys package batch verify policy inspect rekey watermark serve session generate help" -f -a "package" -d 'Package a media file into AES-128 encrypted HLS with rotating keys'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand help; and not __fish_seen_subcommand_from keys package batch verify policy inspect rekey watermark serve session generate help" -f -a "batch" -d 'Package every media file of a folder tree: parallel, resumable, shardable'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand help; and not __fish_seen_subcommand_from keys package batch verify policy inspect rekey watermark serve session generate help" -f -a "verify" -d 'Check a package: playlist rules, files, hashes and, with keys, decryption'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand help; and not __fish_seen_subcommand_from keys package batch verify policy inspect rekey watermark serve session generate help" -f -a "policy" -d 'Check scene protection policies, or make one from a video\'s shots'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand help; and not __fish_seen_subcommand_from keys package batch verify policy inspect rekey watermark serve session generate help" -f -a "inspect" -d 'Summarise a package folder or a media file'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand help; and not __fish_seen_subcommand_from keys package batch verify policy inspect rekey watermark serve session generate help" -f -a "rekey" -d 'Re-encrypt, in place and atomically, the segments whose key is no longer current'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand help; and not __fish_seen_subcommand_from keys package batch verify policy inspect rekey watermark serve session generate help" -f -a "watermark" -d 'Embed and extract forensic watermarks that name the session behind a leak'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand help; and not __fish_seen_subcommand_from keys package batch verify policy inspect rekey watermark serve session generate help" -f -a "serve" -d 'Preview a package on this machine: a loopback-only web server with a player page'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand help; and not __fish_seen_subcommand_from keys package batch verify policy inspect rekey watermark serve session generate help" -f -a "session" -d 'Per-session playlists over an A/B package (`package --ab-watermark`), signed URIs'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand help; and not __fish_seen_subcommand_from keys package batch verify policy inspect rekey watermark serve session generate help" -f -a "generate" -d 'Generate man pages or shell completions'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand help; and not __fish_seen_subcommand_from keys package batch verify policy inspect rekey watermark serve session generate help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand help; and __fish_seen_subcommand_from keys" -f -a "new" -d 'Create a keyring: a random master secret age-wrapped to recipients'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand help; and __fish_seen_subcommand_from keys" -f -a "show" -d 'List a keyring\'s metadata (never a secret unless --reveal)'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand help; and __fish_seen_subcommand_from keys" -f -a "export" -d 'Export the keys a package uses, for a key server, a packager or a player'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand help; and __fish_seen_subcommand_from keys" -f -a "wrap" -d 'Encrypt a file with age (to recipients or a passphrase), like `age -e`'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand help; and __fish_seen_subcommand_from keys" -f -a "unwrap" -d 'Decrypt an age file (armored or binary, detected), like `age -d`'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand help; and __fish_seen_subcommand_from keys" -f -a "rewrap" -d 'Re-wrap a keyring\'s master to a new set of recipients (same keys, same fingerprint)'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand help; and __fish_seen_subcommand_from keys" -f -a "rotate" -d 'Start a new key generation for a content id\'s periods N and later'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand help; and __fish_seen_subcommand_from keys" -f -a "revoke" -d 'Mark a content id\'s periods or a key generation revoked'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand help; and __fish_seen_subcommand_from policy" -f -a "check" -d 'Validate a policy file; errors are reported as FILE:LINE:COLUMN (exit 2)'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand help; and __fish_seen_subcommand_from policy" -f -a "detect" -d 'Detect shots by decoding a video, and write a policy with one scene per shot'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand help; and __fish_seen_subcommand_from watermark" -f -a "keygen" -d 'Create a watermark key: a random secret written with mode 0600'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand help; and __fish_seen_subcommand_from watermark" -f -a "embed" -d 'Mark a video with a payload: decode, add a keyed mark to the luma, re-encode H.264'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand help; and __fish_seen_subcommand_from watermark" -f -a "extract" -d 'Read a mark blind from a clip: the payload and its false-alarm probability'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand help; and __fish_seen_subcommand_from watermark" -f -a "trace" -d 'Name the sessions a leaked recording of an A/B package came from'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand help; and __fish_seen_subcommand_from session" -f -a "variant" -d 'Print the variant (a or b) a session gets for one segment, for an edge function that picks variants itself'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand help; and __fish_seen_subcommand_from session" -f -a "verify-url" -d 'Check a signed URL as a CDN or key server would (exit 1 when refused)'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand help; and __fish_seen_subcommand_from generate" -f -a "man" -d 'Write man pages for every command into DIR'
complete -c shieldpack -n "__fish_shieldpack_using_subcommand help; and __fish_seen_subcommand_from generate" -f -a "completions" -d 'Print a completion script for SHELL on stdout'
