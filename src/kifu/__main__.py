from kifu.cli import main

main()
